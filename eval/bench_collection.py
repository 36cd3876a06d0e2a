"""``vidmem bench collection``: indexing a generated collection in parallel, and the compressed index at scale.

Part 1 (``collection``) generates videos with demos/sample_video.py (tiny frames, few frames per
second, a subtitle file per video), then indexes them with 1 and 2 local workers and on a local
2-CPU Ray cluster, each into a fresh store, and reports hours of video per minute of wall time
against the time to only decode the same files (``ratio``: index time / decode time). Then it asks
text questions across the collection and reports p50/p99 latency.

Part 2 (``compressed``) stands in for 1,000 hours of clip vectors (1.8 M clips of 2 s) with
synthetic clustered vectors (a video drifts between scenes, a scene's clips are near each other)
and reports the IVF-PQ index's build time, memory, bytes per hour, search latency and recall@10
against exact search, plus an exact flat scan's latency for scale.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

WORDS = (
    "heron lantern violin glacier saddle compass orchid anchor falcon meadow pebble harbour tulip canyon "
    "quartz barrel kettle ribbon walrus cobalt"
).split()


def synthetic_clip_vectors(n: int, dim: int, seed: int = 0, clips_per_video: int = 900) -> np.ndarray:
    """``float16 [n,dim]`` unit vectors shaped like clip descriptors of many videos.

    Each video has a centre; scenes of 5-40 clips sit around it; clips sit close to their scene.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, clips_per_video):
        m = min(clips_per_video, n - start)
        centre = rng.standard_normal(dim)
        cuts = np.cumsum(rng.integers(5, 40, size=m))
        scene_of = np.searchsorted(cuts, np.arange(m), side="right")
        scenes = centre * 0.6 + rng.standard_normal((scene_of.max() + 1, dim)) * 0.8
        clips = scenes[scene_of] + rng.standard_normal((m, dim)) * 0.35
        out[start : start + m] = clips / np.linalg.norm(clips, axis=1, keepdims=True)
    return out


def noisy_queries(vectors: np.ndarray, count: int, seed: int = 1, noise: float = 0.25) -> np.ndarray:
    """``float32 [count,dim]``: stored clips with noise added (a frame of a clip, not the clip's mean)."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.choice(len(vectors), count, replace=False)].astype(np.float32)
    q = picked + rng.standard_normal(picked.shape).astype(np.float32) * noise / np.sqrt(vectors.shape[1])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> np.ndarray:
    """``int64 [Q,k]`` exact inner-product top-k over float16 ``vectors`` (ids = row numbers)."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for start in range(0, len(vectors), chunk):
        scores = queries @ vectors[start : start + chunk].astype(np.float32).T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], 1)
        i = np.concatenate([best_i, top + start], 1)
        order = np.argsort(-s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    return best_i


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each query's true top-k that the index returned."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def bench_compressed(clips: int = 1_800_000, dim: int = 336, queries: int = 200, seed: int = 0) -> dict[str, Any]:
    """Builds the compressed index over ``clips`` synthetic vectors; recall@10 and latency vs exact."""
    import faiss

    from vidmem.storage.ivfpq import CompressedIndex

    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    vectors = synthetic_clip_vectors(clips, dim, seed)
    generate_s = time.perf_counter() - t0
    qs = noisy_queries(vectors, queries, seed + 1)
    t0 = time.perf_counter()
    truth = exact_top(vectors, qs, 10)
    exact_ms = (time.perf_counter() - t0) / queries * 1e3
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    index = CompressedIndex(dim, clips)
    sample = vectors[np.sort(np.random.default_rng(seed).choice(clips, index.train_size, replace=False))]
    index.train(sample.astype(np.float32))
    train_s = time.perf_counter() - t0
    for start in range(0, clips, 100_000):
        part = vectors[start : start + 100_000]
        index.add(np.arange(start, start + len(part)), part.astype(np.float32))
    build_s = time.perf_counter() - t0
    rss_growth = _rss_bytes() - rss0
    index.fetch = lambda ids: vectors[ids].astype(np.float32)
    out: dict[str, Any] = {
        "clips": clips, "dim": dim, "hours": clips * 2 / 3600, "queries": queries,
        "generate_s": round(generate_s, 1), "train_s": round(train_s, 1), "build_s": round(build_s, 1),
        "nlist": int(index._index.nlist), "code_bytes": int(index._index.code_size),
        "index_bytes": index.memory_bytes(), "bytes_per_hour": round(index.memory_bytes() / (clips * 2 / 3600)),
        "float16_bytes": int(vectors.nbytes), "rss_growth_bytes": int(rss_growth), "exact_scan_ms": round(exact_ms, 1),
        "settings": [],
    }  # fmt: skip
    for nprobe, rerank in ((16, 0), (48, 0), (16, 256), (48, 256), (96, 256)):
        index.nprobe, index.rerank = nprobe, rerank
        index.fetch = (lambda ids: vectors[ids].astype(np.float32)) if rerank else None
        found, times = [], []
        for q in qs:
            t = time.perf_counter()
            found.append(index.search(q[None], 10)[1][0])
            times.append(time.perf_counter() - t)
        out["settings"].append({
            "nprobe": nprobe, "rerank": rerank, "recall_at_10": round(recall_at(np.array(found), truth), 4),
            "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 2),
            "p99_ms": round(float(np.percentile(times, 99)) * 1e3, 2),
        })  # fmt: skip
    return out


def bench_hnsw(clips: int = 50_000, dim: int = 336, queries: int = 100, seed: int = 0) -> dict[str, Any]:
    """The store's HNSW index (``VectorIndex`` kind ``hnsw``) at a small size: build rate and bytes per vector.

    Scaled to 1.8 M clips these say why large groups switch to IVF-PQ.
    """
    import faiss

    from vidmem.storage.index import VectorIndex

    faiss.omp_set_num_threads(1)
    vectors = synthetic_clip_vectors(clips, dim, seed)
    qs = noisy_queries(vectors, queries, seed + 1)
    truth = exact_top(vectors, qs, 10)
    t0 = time.perf_counter()
    index = VectorIndex(dim, "hnsw", use_gpu=False)
    index.add(np.arange(clips), vectors.astype(np.float32))
    build_s = time.perf_counter() - t0
    times, found = [], []
    for q in qs:
        t = time.perf_counter()
        found.append(index.search(q[None], 10)[1][0])
        times.append(time.perf_counter() - t)
    size = len(index.to_bytes())
    return {
        "clips": clips, "build_s": round(build_s, 1), "bytes_per_vector": round(size / clips),
        "recall_at_10": round(recall_at(np.array(found), truth), 4),
        "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 2),
        "at_1_8M_build_min": round(build_s / clips * 1.8e6 / 60, 1), "at_1_8M_bytes": round(size / clips * 1.8e6),
    }  # fmt: skip


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def make_collection(folder: Path, videos: int, minutes: float, fps: float, size: tuple[int, int]) -> list[Path]:
    """Generated videos with one subtitle line a minute (words from ``WORDS``), reused when present."""
    from demos.sample_video import make_sample_video

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for v in range(videos):
        path = folder / f"video{v:03d}.mp4"
        if not path.is_file():
            make_sample_video(path, duration=minutes * 60, fps=fps, size=size, seed=v, burn_text=False)
        lines = [f"{i + 1}\n{_srt(i * 60 + 5)} --> {_srt(i * 60 + 9)}\n{_line(v, i)}\n" for i in range(int(minutes))]
        path.with_suffix(".srt").write_text("\n".join(lines))
        paths.append(path)
    return paths


SECOND_WORDS = (
    "mango rocket banjo igloo tractor parrot cactus trumpet lobster bucket tiger candle zebra helmet cherry "
    "dolphin wagon pepper beetle yacht"
).split()
"""Words for the minute, none in ``WORDS``: "the heron and the mango" is never also "the mango and the heron"."""


def _line(video: int, minute: int) -> str:
    """A subtitle no other (video, minute) shares (up to 20 minutes a video): a word of the video, one of the minute."""
    first = WORDS[video % len(WORDS)] + ("" if video < len(WORDS) else str(video // len(WORDS)))
    return f"the {first} and the {SECOND_WORDS[(video + minute) % len(SECOND_WORDS)]} appear together"


def _srt(t: float) -> str:
    h, m, s = int(t // 3600), int(t % 3600 // 60), t % 60
    return f"{h:02d}:{m:02d}:{int(s):02d},{int(s % 1 * 1000):03d}"


def bench_indexing(work: Path, videos: int, minutes: float, fps: float, asks: int) -> dict[str, Any]:
    """Indexes the generated collection three ways; decode-only baseline; ask latency across it."""
    from vidmem.collection import CollectionConfig, index_collection
    from vidmem.ingest import IngestConfig

    paths = make_collection(work / "videos", videos, minutes, fps=fps, size=(96, 64))
    config = IngestConfig(fps=1.0, ocr=False, speech=False)
    hours = videos * minutes / 60
    decode_s = _decode_seconds(paths, config)
    runs = []
    for name, run in (
        ("1 worker", CollectionConfig(workers=1)),
        ("2 workers", CollectionConfig(workers=2)),
        ("ray, 2 CPUs", CollectionConfig(workers=2, cluster="ray")),
    ):
        store = work / f"store-{name.split()[0].strip(',')}"
        shutil.rmtree(store, ignore_errors=True)
        t0 = time.perf_counter()
        report = index_collection([str(work / "videos")], store, config, run)
        seconds = time.perf_counter() - t0
        failures = report.to_json()["failures"]
        runs.append({
            "run": name, "seconds": round(seconds, 1), "failed": len(failures),
            "why": sorted({f["reason"] for f in failures})[:3],
            "hours_per_minute": round(hours / (seconds / 60), 3), "ratio_to_decode": round(seconds / decode_s, 2),
        })  # fmt: skip
    return {
        "videos": videos, "hours": round(hours, 3), "video_fps": fps, "frame_size": [96, 64], "sample_fps": 1.0,
        "decode_seconds": round(decode_s, 1), "decode_hours_per_minute": round(hours / (decode_s / 60), 3),
        "runs": runs, "ask": _ask_latency(work / "store-1", videos, minutes, asks),
    }  # fmt: skip


def _decode_seconds(paths: list[Path], config) -> float:
    from vidmem.io import sample_frames

    t0 = time.perf_counter()
    for p in paths:
        for _ in sample_frames(str(p), fps=config.fps, backend=config.backend, max_side=config.max_side):
            pass
    return time.perf_counter() - t0


def _ask_latency(store_dir: Path, videos: int, minutes: float, asks: int) -> dict[str, Any]:
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.storage.store import MemoryStore

    rng = np.random.default_rng(0)
    times, hits = [], 0
    with MemoryStore(store_dir, read_only=True) as store:
        agent = RetrievalAgent(store)
        agent.ask("warm up: where is the heron?")
        for _ in range(asks):
            v, i = int(rng.integers(videos)), int(rng.integers(int(minutes)))
            t = time.perf_counter()
            answer = agent.ask(f"when do {_line(v, i).removesuffix(' appear together')} appear together?")
            times.append(time.perf_counter() - t)
            top = answer.evidence[0] if answer.evidence else None
            hits += bool(top and top.video.endswith(f"video{v:03d}.mp4") and abs(top.t_start - (i * 60 + 5)) < 4)
    return {
        "asks": asks, "top_evidence_right": hits,
        "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 1),
        "p99_ms": round(float(np.percentile(times, 99)) * 1e3, 1),
    }  # fmt: skip


def run_bench(
    work: Path, videos: int = 20, minutes: float = 15.0, fps: float = 2.0, clips: int = 1_800_000, asks: int = 30,
    parts: tuple[str, ...] = ("collection", "compressed"),
) -> dict[str, Any]:  # fmt: skip
    """Both parts; ``parts`` picks which."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    if "collection" in parts:
        out["collection"] = bench_indexing(work, videos, minutes, fps, asks)
    if "compressed" in parts:
        out["compressed"] = bench_compressed(clips)
        out["hnsw_small"] = bench_hnsw()
    return out
