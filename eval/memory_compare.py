"""``vidmem eval memory``: vidmem's memory beside uniform sampling, a FIFO and MovieChat merging.

Per video, the baselines see the frames vidmem's ingest sampled (same fps and size), encoded by the
store's own encoder, and keep as many vectors as vidmem's clip memory holds (``--budget`` to set
it), so every method stores the same bytes of vectors. Figures (a method that cannot produce one
gets null):

- ``sort_accuracy``: pairs of 1 s clips cut from the video with ffmpeg and re-encoded at 60% of its
  width; each clip's middle frame is located through the memory alone (vidmem: ``ask --image``'s
  first evidence; baselines: the nearest vector); right when the located times keep the order.
  vidmem's ``sort_accuracy_nearest_vector`` locates through its clip vectors like the baselines.
- ``boundary_f1``: boundaries from the memory (the writer's novelty rule over its entries in time
  order) against given times, within ``--boundary-tolerance`` seconds.
- ``caption_top1``: caption questions (see ``eval.memory_bench``); baselines need an encoder with
  text (``clip-b32``), else null.
- ``needle_recall``: vidmem's mean recall over the transformations of ``eval.needle`` (``--needle``).
- ``bytes_per_hour``: vector bytes (float16 + two float32 times per entry) per video-hour; vidmem's
  ``store_bytes_per_hour`` is its whole store on disk (frame vectors, keyframes, text, indexes).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from eval.memory_methods import BASELINES, METHODS, VectorMemory, boundary_f1, sort_accuracy, sort_pairs
from vidmem.errors import VidmemError

SORT_CLIP_SECONDS = 1.0
SORT_SCALE = 0.6


def parse_boundaries(values: list[str]) -> dict[str, list[float]]:
    """``NAME=t1,t2,...`` flags or JSON files ``{video name: [seconds]}`` -> ``{name: times}``."""
    out: dict[str, list[float]] = {}
    for value in values:
        if Path(value).is_file():
            data = json.loads(Path(value).read_text())
            out.update({Path(k).name: [float(t) for t in v] for k, v in data.items()})
            continue
        name, sep, times = value.partition("=")
        if not sep:
            raise VidmemError(f"--boundaries {value!r}: give a JSON file or NAME=t1,t2,...")
        try:
            out[Path(name).name] = [float(t) for t in times.split(",") if t.strip()]
        except ValueError:
            raise VidmemError(f"--boundaries {value!r}: times must be seconds separated by commas") from None
    return out


def clip_memory(store) -> VectorMemory:
    """vidmem's clip-scale entries in time order."""
    entries = store.get_entries(store.select_ids("episodic", "clip"))
    return VectorMemory(
        np.array([e.t_start for e in entries]),
        np.array([e.t_end for e in entries]),
        np.stack([e.vector for e in entries]).astype(np.float32),
    )


def sampled_vectors(video: Path, encoder, config) -> tuple[np.ndarray, np.ndarray]:
    """Times ``float [T]`` and vectors ``float32 [T,D]`` of the frames the ingest samples."""
    from vidmem.io import sample_frames

    times, vectors, batch = [], [], []
    for frame in sample_frames(str(video), fps=config.fps, max_side=config.max_side):
        times.append(frame.t)
        batch.append(frame.image)
        if len(batch) == 32:
            vectors.append(encoder.encode_images(np.stack(batch)))
            batch = []
    if batch:
        vectors.append(encoder.encode_images(np.stack(batch)))
    return np.array(times), np.concatenate(vectors).astype(np.float32)


def recut(video: Path, start: float, out: Path) -> np.ndarray:
    """Middle frame (uint8 [H,W,3]) of a ``SORT_CLIP_SECONDS`` clip re-encoded at another size."""
    from vidmem.io import sample_frames

    scale = f"scale=trunc(iw*{SORT_SCALE}/2)*2:-2"
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-ss", f"{start:.3f}", "-t", f"{SORT_CLIP_SECONDS}", "-i", str(video),
           "-vf", scale, "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    frames = [f.image for f in sample_frames(str(out), fps=10.0)]
    if not frames:
        raise VidmemError(f"ffmpeg cut no frames from {video.name} at {start:.2f} s")
    return frames[len(frames) // 2]


def compare_video(video: Path, store_dir: Path, config, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every method's figures on one indexed video (see the module docstring)."""
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.ingest import store_encoder
    from vidmem.io import probe_video
    from vidmem.storage.store import MemoryStore

    hours = (probe_video(str(video)).duration or 0.0) / 3600
    with MemoryStore(store_dir) as store:
        encoder = store_encoder(store, store.get_meta("encoder")["spec"])
        vidmem = clip_memory(store)
        times, vectors = sampled_vectors(video, encoder, config)
        step = 1.0 / config.fps
        budget = options.get("budget") or len(vidmem)
        memories = {"vidmem": vidmem, **{n: f(times, vectors, budget, step) for n, f in BASELINES.items()}}
        agent = RetrievalAgent(store)
        pairs = sort_pairs(hours * 3600, options.get("sort_pairs", 20), SORT_CLIP_SECONDS, config.clip_seconds)
        queries = _sort_queries(video, pairs)
        out = {}
        for name, memory in memories.items():
            located = [tuple(_locate(name, memory, agent, encoder, f) for f in pair) for pair in queries]
            row: dict[str, Any] = {"entries": len(memory), "sort_pairs": len(located)}
            row["sort_accuracy"] = sort_accuracy(located)
            if name == "vidmem":  # the same memory located like the baselines: nearest clip vector
                nearest = [tuple(_locate("", memory, agent, encoder, f) for f in pair) for pair in queries]
                row["sort_accuracy_nearest_vector"] = sort_accuracy(nearest)
            truth = options.get("boundaries", {}).get(video.name)
            tol = options.get("tolerance", 1.0)
            row["boundary_f1"] = boundary_f1(memory.boundaries(), truth, tol)["f1"] if truth else None
            row["boundaries"] = [round(b, 2) for b in memory.boundaries()]
            row["caption_top1"] = _caption_top1(name, memory, encoder, options.get("questions"))
            row["vector_bytes"] = memory.nbytes
            row["bytes_per_hour"] = round(memory.nbytes / hours) if hours else None
            row["needle_recall"] = None
            out[name] = row
        out["vidmem"]["store_bytes_per_hour"] = round(_dir_bytes(store_dir) / hours) if hours else None
    return out


def _sort_queries(video: Path, pairs: list[tuple[float, float]]) -> list[tuple[np.ndarray, np.ndarray]]:
    with tempfile.TemporaryDirectory(prefix="vidmem-sort-") as tmp:
        return [(recut(video, a, Path(tmp) / "a.mp4"), recut(video, b, Path(tmp) / "b.mp4")) for a, b in pairs]


def _locate(name: str, memory: VectorMemory, agent, encoder, frame: np.ndarray) -> float:
    if name == "vidmem":  # the whole system: image search over the store, first evidence
        top = agent.ask("", image=frame).evidence[0]
        return 0.5 * (top.t_start + top.t_end)
    return memory.locate(encoder.encode_images(frame[None])[0])


def _caption_top1(name: str, memory: VectorMemory, encoder, questions: dict | None) -> float | None:
    """Baselines: nearest vector to the question's text vector (encoders with text only)."""
    if not questions:
        return None
    if name == "vidmem":
        return questions["vidmem_top1"]
    if not encoder.has_text:
        return None
    hits = 0
    for q in questions["items"]:
        t = memory.locate(encoder.encode_text([q["question"]])[0])
        hits += any(a <= t <= b for a, b in q["windows"])
    return round(hits / len(questions["items"]), 4)


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def combine(videos: list[str], per_video: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """``{"videos", "methods": {NAME: figures}}`` pooled over videos (nulls left out; all null -> null)."""
    methods = {}
    for name in METHODS:
        rows = [v[name] for v in per_video if name in v]
        pairs = sum(r["sort_pairs"] for r in rows if r["sort_accuracy"] is not None)
        right = sum(r["sort_accuracy"] * r["sort_pairs"] for r in rows if r["sort_accuracy"] is not None)
        methods[name] = {
            "sort_accuracy": round(right / pairs, 4) if pairs else None,
            "boundary_f1": _mean(r["boundary_f1"] for r in rows),
            "caption_top1": _mean(r["caption_top1"] for r in rows),
            "needle_recall": _mean(r["needle_recall"] for r in rows),
            "bytes_per_hour": _mean(r["bytes_per_hour"] for r in rows),
            "sort_pairs": pairs,
        }
    for extra in ("store_bytes_per_hour", "sort_accuracy_nearest_vector"):
        methods["vidmem"][extra] = _mean(v["vidmem"].get(extra) for v in per_video if "vidmem" in v)
    return {"videos": videos, "methods": methods}


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


def attach_needle(out: dict[str, Any], needle: dict[str, Any]) -> None:
    """vidmem's ``needle_recall``: mean over transformations, the joined (hour) setting when run."""
    setting = needle.get("joined_setting") or needle.get("videos_setting")
    if setting and "methods" in out:
        recall = setting["needle_recall"]
        out["methods"]["vidmem"]["needle_recall"] = round(sum(recall.values()) / len(recall), 4)


def print_methods(out: dict[str, Any]) -> None:
    """One row per method."""
    print(f"{'method':<10} {'SORT':>6} {'bound F1':>9} {'caption':>8} {'needle':>7} {'bytes/hour':>12}")
    for name, r in out["methods"].items():
        cells = [r["sort_accuracy"], r["boundary_f1"], r["caption_top1"], r["needle_recall"]]
        text = ["   n/a" if c is None else f"{c:6.3f}" for c in cells]
        bph = "n/a" if r["bytes_per_hour"] is None else f"{r['bytes_per_hour'] / 1e6:.2f} MB"
        print(f"{name:<10} {text[0]:>6} {text[1]:>9} {text[2]:>8} {text[3]:>7} {bph:>12}")
