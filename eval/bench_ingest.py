"""``vidmem bench ingest``: ingest speed against pure decode, peak memory, stored bytes.

Figures, not pass/fail: the goals (ingest >= 0.8x decode with the classical encoder, RSS of a
30-minute video <= 1.1x a 1-minute one, <= 20 MB stored per video-hour) are printed beside them.
Ratios are measured in one run on the same machine, since absolute speeds vary.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = (640, 360)
SOURCE_FPS = 10.0

_RSS_CHILD = """
import json, resource, sys
from vidmem.ingest import IngestConfig, index_video
r = index_video(sys.argv[1], sys.argv[2], IngestConfig(encoder=sys.argv[3], ocr=False))
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "clips": r.clips}))
"""


def decode_only(video: Path, fps: float = 1.0, max_side: int = 640) -> tuple[int, float]:
    """Samples every frame ingest would, and does nothing else; returns (frames, seconds)."""
    from vidmem.io import sample_frames

    start = time.perf_counter()
    n = sum(1 for _ in sample_frames(str(video), fps=fps, max_side=max_side))
    return n, time.perf_counter() - start


def ingest_once(video: Path, store: Path, encoder: str, ocr: bool = False) -> tuple[int, float, int]:
    """Indexes into a fresh store; returns (sampled frames, seconds, store bytes)."""
    from vidmem.ingest import IngestConfig, index_video
    from vidmem.storage.store import MemoryStore

    start = time.perf_counter()
    report = index_video(video, store, IngestConfig(encoder=encoder, ocr=ocr), reindex=True)
    seconds = time.perf_counter() - start
    with MemoryStore(store) as s:
        size = s.disk_bytes()
    return report.clips * 2, seconds, size


def peak_rss(video: Path, store: Path, encoder: str) -> float:
    """Peak resident memory (MB) of a separate process that indexes ``video``."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(video), str(store), encoder], capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"])


def make_video(path: Path, minutes: float, generate: Callable[..., Any]) -> Path:
    """A generated video of ``minutes`` (``generate`` is ``demos.sample_video.make_sample_video``, handed in
    by the CLI, which is the one place allowed to import ``demos``)."""
    if not path.is_file():
        generate(path, duration=minutes * 60, fps=SOURCE_FPS, size=SIZE, burn_text=True)
    return path


def run(
    minutes: float,
    long_minutes: float,
    encoder: str,
    work: Path,
    generate: Callable[..., Any],
    video: Path | None = None,
) -> dict[str, Any]:
    main = make_video(work / f"bench-{minutes:g}min.mp4", minutes, generate)
    decode_n, decode_s = decode_only(main)
    ingest_n, ingest_s, store_bytes = ingest_once(main, work / "store-main", encoder)
    decode_n2, decode_s2 = decode_only(main)  # again after ingest, so warm caches favour neither side
    decode_fps = (decode_n + decode_n2) / (decode_s + decode_s2)
    ingest_fps = ingest_n / ingest_s
    result: dict[str, Any] = {
        "encoder": encoder,
        "video": {"minutes": minutes, "size": list(SIZE), "source_fps": SOURCE_FPS, "sample_fps": 1.0},
        "decode_fps": round(decode_fps, 1),
        "ingest_fps": round(ingest_fps, 1),
        "ingest_to_decode_ratio": round(ingest_fps / decode_fps, 3),
        "ingest_realtime_factor": round(minutes * 60 / ingest_s, 1),
        "stored_mb_per_video_hour": round(store_bytes / 1e6 * 60 / minutes, 2),
    }
    short = make_video(work / "bench-1min.mp4", 1.0, generate)
    long = make_video(work / f"bench-{long_minutes:g}min.mp4", long_minutes, generate)
    rss_short = peak_rss(short, work / "store-rss-short", encoder)
    rss_long = peak_rss(long, work / "store-rss-long", encoder)
    result["peak_rss_mb"] = {"1min": round(rss_short, 1), f"{long_minutes:g}min": round(rss_long, 1)}
    result["peak_rss_ratio"] = round(rss_long / rss_short, 3)
    if video is not None:
        n, s = decode_only(video)
        m, t, size = ingest_once(video, work / "store-real", encoder)
        result["real_video"] = {"path": str(video), "decode_fps": round(n / s, 1), "ingest_fps": round(m / t, 1),
                                "ratio": round((m / t) / (n / s), 3), "store_bytes": size}  # fmt: skip
    result["goals"] = {
        "ingest_to_decode_ratio": ">= 0.8",
        "peak_rss_ratio": "<= 1.1",
        "stored_mb_per_video_hour": "<= 20",
    }
    return result


def run_cli(args, generate: Callable[..., Any]) -> dict[str, Any]:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidmem-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else None
    result = run(args.minutes, args.long_minutes, args.encoder, work, generate, video)
    if not args.json:
        for key, value in result.items():
            print(f"{key:<26} {value}")
    return result
