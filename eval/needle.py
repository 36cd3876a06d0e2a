"""Needle benchmark: frames of real videos, transformed as people do, asked back by image.

Two settings:

- ``videos``: the given videos indexed into one store as they are;
- ``joined``: one long video (an hour by default) built with ffmpeg from the given videos, every
  segment scaled and padded to 640x360 (so a 640x272 or 4:3 source carries bars there), where
  each original appears exactly once and the rest is filler made of mirrored and recoloured copies
  (hard negatives: same colours and textures, other footage). Only the originals are queried.

Videos that share footage with an earlier one are left out (``distinct_videos``: scene_cuts.mp4
holds bikes.mp4 beside a chart), so every queried picture appears once. A query is right when
the answer's first evidence is from the right video and lies within ``TOLERANCE`` seconds of the
frame's time. Figures: ``needle_recall`` per transformation, and query
latency p50/p99 (one warm-up query first; the store's indexes load on first use).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.transforms import TRANSFORMS, apply

TOLERANCE = 2.0
SIZE = (640, 360)
JOINED_FPS = 5
FILLERS = ("hflip", "vflip", "hflip,hue=h=120", "vflip,hue=h=240:s=1.3", "hflip,vflip,negate")
"""ffmpeg filters making filler from the same videos: other footage (mirrors are not crops)."""


@dataclass
class Query:
    video: Path
    t: float  # seconds in the original video
    frame: np.ndarray  # uint8 [H,W,3] RGB, the original frame


def pick_queries(videos: list[Path], per_video: int, seed: int = 0) -> list[Query]:
    """``per_video`` frames of each video at seeded random times (native resolution)."""
    from vidmem.io import probe_video, sample_frames

    rng = np.random.default_rng(seed)
    out = []
    for video in videos:
        duration = probe_video(str(video)).duration or 0.0
        wanted = sorted(rng.uniform(0.2, max(0.3, duration - 0.5), per_video))
        frames = list(sample_frames(str(video), fps=5.0))
        for t in wanted:
            f = min(frames, key=lambda fr: abs(fr.t - t))
            out.append(Query(video, float(f.t), f.image))
    return out


SHARED_INLIERS = 15
"""Median best inliers (96 keypoints) of one video's frames against another's above which the two
share footage (bikes.mp4 inside scene_cuts.mp4 scores 24; unrelated pairs of the real videos 0-7)."""


def distinct_videos(videos: list[Path]) -> tuple[list[Path], dict[str, str]]:
    """Keeps videos in order, leaving out any that shares footage with one kept before it.

    Footage in two videos appears twice in the joined video, so its frames have no single right
    answer. Returns the kept videos and ``{left out: the kept video it shares footage with}``.
    """
    from encoders.local_features import LocalFeatureConfig, LocalFeatures
    from vidmem.io import sample_frames

    # Luma, as SHARED_INLIERS was measured (on the value channel scene_cuts' median fell below it and
    # its bikes footage was asked, with two right answers).
    features = LocalFeatures(LocalFeatureConfig(stored=96, channel="luma"))
    frames = {v: [f.image for f in sample_frames(str(v), fps=1.0, max_side=SIZE[0])] for v in videos}
    query = {v: [features.describe(f, features.config.query) for f in fs] for v, fs in frames.items()}
    stored = {v: [features.describe(f) for f in fs] for v, fs in frames.items()}

    def shared(a: Path, b: Path) -> bool:
        for x, y in ((a, b), (b, a)):
            best = [max((features.inliers(q, s) for s in stored[y]), default=0) for q in query[x]]
            if best and float(np.median(best)) >= SHARED_INLIERS:
                return True
        return False

    kept: list[Path] = []
    skipped: dict[str, str] = {}
    for v in videos:
        twin = next((k for k in kept if shared(v, k)), None)
        if twin is None:
            kept.append(v)
        else:
            skipped[v.name] = twin.name
    return kept, skipped


def build_joined_video(videos: list[Path], folder: Path, minutes: float) -> tuple[Path, dict[str, float]]:
    """Joins the videos into one ``minutes``-long 640x360 video; returns it and each original's offset.

    Each original appears once, spread evenly; filler segments (mirrored/recoloured copies) repeat.
    """
    folder.mkdir(parents=True, exist_ok=True)
    needles = [_segment(v, "null", folder / f"needle-{i}.mp4") for i, v in enumerate(videos)]
    fillers = [
        _segment(v, flt, folder / f"filler-{i}-{j}.mp4") for j, flt in enumerate(FILLERS) for i, v in enumerate(videos)
    ]
    durations = {p: _duration(p) for p in needles + fillers}
    filler_total = max(0.0, minutes * 60 - sum(durations[p] for p in needles))
    order: list[Path] = []
    filled, k = 0.0, 0
    while filled < filler_total:
        order.append(fillers[k % len(fillers)])
        filled += durations[order[-1]]
        k += 1
    for i, needle in enumerate(needles):  # evenly spread, never back to back
        order.insert(round((i + 0.5) * len(order) / len(needles)) + i, needle)
    offsets, t = {}, 0.0
    for p in order:
        if p in needles:
            offsets[str(videos[needles.index(p)])] = t
        t += durations[p]
    listing = folder / "concat.txt"
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in order))
    out = folder / f"joined-{minutes:g}min.mp4"
    _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)])
    return out, offsets


def _segment(video: Path, flt: str, out: Path) -> Path:
    w, h = SIZE
    chain = (
        f"{flt},scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,"
        f"fps={JOINED_FPS},format=yuv420p,setsar=1"
    )
    if not out.is_file():
        _ffmpeg(["-i", str(video), "-an", "-sn", "-vf", chain, "-c:v", "libx264", "-preset", "ultrafast",
                 "-crf", "23", "-g", str(2 * JOINED_FPS), str(out)])  # fmt: skip
    return out


def _duration(path: Path) -> float:
    # Frames written / rate: exact for the constant-rate segments made above.
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.strip()) / JOINED_FPS


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-threads", "1", *args], check=True)


def ask_needles(
    store_dir: Path, queries: list[Query], offsets: dict[str, float] | None, transforms: tuple[str, ...], seed: int = 0
) -> dict[str, Any]:
    """Asks every query under every transformation; recall@1 per transformation and latency."""
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.storage.store import MemoryStore

    rng = np.random.default_rng(seed)
    latencies: list[float] = []
    recall: dict[str, float] = {}
    misses: dict[str, list] = {}
    with MemoryStore(store_dir) as store:
        agent = RetrievalAgent(store)
        agent.ask("", image=queries[0].frame)  # warm-up: indexes load on first use
        for name in transforms:
            hits = 0
            for q in queries:
                image = apply(name, q.frame, rng)
                start = time.perf_counter()
                answer = agent.ask("", image=image)
                latencies.append(time.perf_counter() - start)
                top = answer.evidence[0]
                t = q.t + (offsets[str(q.video)] if offsets is not None else 0.0)
                right_video = offsets is not None or Path(top.video or "").name == q.video.name
                if right_video and top.t_start <= t + TOLERANCE and top.t_end >= t - TOLERANCE:
                    hits += 1
                else:
                    # the answer's score tells a wrong geometric match (in (1, 2)) from an unverified global ranking
                    misses.setdefault(name, []).append(
                        [q.video.name, round(t, 1), [top.t_start, top.t_end], round(top.score, 3)]
                    )
            recall[name] = round(hits / len(queries), 4)
    ms = sorted(1000 * x for x in latencies)
    return {
        "queries_per_transform": len(queries),
        "needle_recall": recall,
        "needle_recall_min": min(recall.values()),
        "latency_ms_p50": round(statistics.median(ms), 1),
        "latency_ms_p99": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
        "misses": {k: v[:5] for k, v in misses.items()},
    }


def needle_benchmark(
    videos: list[Path], work: Path, minutes: float = 60.0, per_video: int = 8, seed: int = 0
) -> dict[str, Any]:
    """Both settings (``videos`` and, when ``minutes`` > 0, ``joined``); see the module docstring."""
    from vidmem.ingest import IngestConfig, index_video

    config = IngestConfig(ocr=False, speech=False, auto_subtitles=False, embedded_subtitles=False)
    videos, skipped = distinct_videos(videos)
    queries = pick_queries(videos, per_video, seed)
    out: dict[str, Any] = {"videos": [v.name for v in videos], "skipped": skipped, "transforms": list(TRANSFORMS)}
    store = work / "needle-videos-store"
    started = time.perf_counter()
    for v in videos:
        index_video(v, store, config, reindex=True)
    out["videos_setting"] = {"index_seconds": round(time.perf_counter() - started, 1)}
    out["videos_setting"].update(ask_needles(store, queries, None, TRANSFORMS, seed))
    if minutes > 0:
        joined, offsets = build_joined_video(videos, work / "needle-joined", minutes)
        store = work / "needle-joined-store"
        started = time.perf_counter()
        report = index_video(joined, store, config, reindex=True)
        with_store = {"index_seconds": round(time.perf_counter() - started, 1), "minutes": minutes}
        with_store["store_mb_per_hour"] = round(_store_bytes(store) / 1e6 / (minutes / 60), 2)
        with_store["entries"] = report.entries
        with_store.update(ask_needles(store, queries, offsets, TRANSFORMS, seed))
        out["joined_setting"] = with_store
    return out


def _store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*") if p.is_file())


def print_needle(result: dict[str, Any]) -> None:
    """Human-readable table of a ``needle_benchmark`` result."""
    for key in ("videos_setting", "joined_setting"):
        r = result.get(key)
        if not r:
            continue
        extra = f", {r['store_mb_per_hour']} MB/hour" if "store_mb_per_hour" in r else ""
        print(f"needle {key}: {r['queries_per_transform']} queries each, p50 {r['latency_ms_p50']} ms, "
              f"p99 {r['latency_ms_p99']} ms{extra}")  # fmt: skip
        for name, value in r["needle_recall"].items():
            print(f"  {name:<32} recall@1 {value:.3f}")


def run_cli(args, work: str) -> dict[str, Any]:
    """``vidmem eval memory --needle``: the benchmark over ``args.video``, stores under ``work``."""
    videos = [Path(v) for v in args.video]
    result = needle_benchmark(videos, Path(work), args.needle_minutes, args.needle_per_video, args.needle_seed)
    if not args.json:
        print_needle(result)
    return result
