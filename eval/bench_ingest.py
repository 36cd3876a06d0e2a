"""``vidmem bench ingest``: ingest speed against pure decode, peak memory, stored bytes.

Everything is measured with the **default** settings (on-screen text, speech when the video has an
audio track, keypoints: whatever ``IngestConfig()`` turns on), and again with OCR off for
comparison. Peak RSS is measured at 1 minute and at each ``--long-minutes`` length (default 30
and 60). Figures, not pass/fail: the goals (ingest >= 0.8x decode with the classical encoder and
OCR off, peak RSS of the longest video <= 1.1x a 1-minute one and < 1 GB, <= 20 MB stored per
video-hour) are printed beside them. Ratios are measured in one run on the same machine.

The generated videos get a spoken track (espeak-ng sentences every 12 s, handed in by the CLI as
``speak``) so speech is measured too; without ``speak`` they are silent and the result says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SIZE = (640, 360)
SOURCE_FPS = 10.0
SENTENCES = (
    "the kettle is on the stove",
    "the train to the city leaves at noon",
    "please close the blue door behind you",
    "seven boxes are stacked in the garage",
)

# Peak RSS is VmHWM, the child's own high-water mark: ru_maxrss of a process started by vfork+exec
# (subprocess does that) also counts the parent's resident size at the exec, so every child of a bench
# that had itself ingested read as the parent's peak (1,292 MB at 1, 30 and 60 minutes alike).
_RSS_CHILD = """
import json, sys
from vidmem.ingest import IngestConfig, index_video
overrides = json.loads(sys.argv[4])
r = index_video(sys.argv[1], sys.argv[2], IngestConfig(encoder=sys.argv[3], **overrides), reindex=True)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(json.dumps({"rss_mb": int(hwm) / 1024, "clips": r.clips}))
"""


def decode_only(video: Path, fps: float = 1.0, max_side: int = 640) -> tuple[int, float]:
    """Samples every frame ingest would, and does nothing else; returns (frames, seconds)."""
    from vidmem.io import sample_frames

    start = time.perf_counter()
    n = sum(1 for _ in sample_frames(str(video), fps=fps, max_side=max_side))
    return n, time.perf_counter() - start


def ingest_once(video: Path, store: Path, encoder: str, ocr: bool = True) -> tuple[int, float, int]:
    """Indexes into a fresh store with the default settings (``ocr`` aside); returns
    (sampled frames, seconds, store bytes)."""
    from vidmem.ingest import IngestConfig, index_video
    from vidmem.storage.store import MemoryStore

    start = time.perf_counter()
    report = index_video(video, store, IngestConfig(encoder=encoder, ocr=ocr), reindex=True)
    seconds = time.perf_counter() - start
    with MemoryStore(store, read_only=True) as s:
        size = s.disk_bytes()
    return report.clips * 2, seconds, size


def peak_rss(video: Path, store: Path, encoder: str, ocr: bool = True) -> float:
    """Peak resident memory (MB) of a separate process that indexes ``video`` (defaults, ``ocr`` aside).

    The child re-indexes: a store left in ``--work`` by an earlier run would otherwise be resumed,
    and a resume of a complete source does no work (it read 77 MB, against 175 MB indexing).
    """
    overrides = json.dumps({} if ocr else {"ocr": False})
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(video), str(store), encoder, overrides],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"])


def make_video(path: Path, minutes: float, generate: Callable[..., Any], speak: Callable | None = None) -> Path:
    """A generated video of ``minutes``, spoken when ``speak`` is given.

    ``generate`` is ``demos.sample_video.make_sample_video`` and ``speak`` is
    ``demos.speech_video.speech_track`` with its sample rate (``(lines, seconds) -> (float32 audio,
    rate)``), handed in by the CLI, which is the one place allowed to import ``demos``.
    """
    if path.is_file():
        return path
    if speak is None:
        generate(path, duration=minutes * 60, fps=SOURCE_FPS, size=SIZE, burn_text=True)
        return path
    silent = path.with_name(path.stem + "-silent.mp4")
    if not silent.is_file():
        generate(silent, duration=minutes * 60, fps=SOURCE_FPS, size=SIZE, burn_text=True)
    lines = [(t, SENTENCES[i % len(SENTENCES)]) for i, t in enumerate(np.arange(1.0, minutes * 60 - 4, 12.0))]
    audio, rate = speak(lines, minutes * 60)
    track = path.with_suffix(".wav")
    with wave.open(str(track), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(silent), "-i", str(track), "-c:v", "copy", "-c:a", "aac",
         "-b:a", "48k", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    track.unlink()
    return path


def run(
    minutes: float,
    long_minutes: Sequence[float],
    encoder: str,
    work: Path,
    generate: Callable[..., Any],
    video: Path | None = None,
    speak: Callable | None = None,
) -> dict[str, Any]:
    main = make_video(work / f"bench-{minutes:g}min.mp4", minutes, generate, speak)
    decode_n, decode_s = decode_only(main)
    ingest_n, ingest_s, store_bytes = ingest_once(main, work / "store-main", encoder)
    plain_n, plain_s, _ = ingest_once(main, work / "store-main-no-ocr", encoder, ocr=False)
    decode_n2, decode_s2 = decode_only(main)  # again after ingest, so warm caches favour neither side
    decode_fps = (decode_n + decode_n2) / (decode_s + decode_s2)
    ingest_fps, plain_fps = ingest_n / ingest_s, plain_n / plain_s
    result: dict[str, Any] = {
        "encoder": encoder,
        "settings": "defaults (OCR, speech, keypoints on); *_no_ocr: the same with --no-ocr",
        "video": {"minutes": minutes, "size": list(SIZE), "source_fps": SOURCE_FPS, "sample_fps": 1.0,
                  "speech": "espeak sentences every 12 s" if speak else "none (silent video)"},
        "decode_fps": round(decode_fps, 1),
        "ingest_fps": round(ingest_fps, 1),
        "ingest_to_decode_ratio": round(ingest_fps / decode_fps, 3),
        "ingest_realtime_factor": round(minutes * 60 / ingest_s, 1),
        "ingest_fps_no_ocr": round(plain_fps, 1),
        "ingest_to_decode_ratio_no_ocr": round(plain_fps / decode_fps, 3),
        "stored_mb_per_video_hour": round(store_bytes / 1e6 * 60 / minutes, 2),
    }  # fmt: skip
    lengths = [1.0, *(m for m in long_minutes if m != 1.0)]
    videos = {m: make_video(work / f"bench-{m:g}min.mp4", m, generate, speak) for m in lengths}
    for suffix, ocr in (("", True), ("_no_ocr", False)):
        rss = {m: peak_rss(v, work / f"store-rss-{m:g}min{suffix}", encoder, ocr) for m, v in videos.items()}
        result[f"peak_rss_mb{suffix}"] = {f"{m:g}min": round(r, 1) for m, r in rss.items()}
        # the longest video's peak over the 1-minute one; it includes the warm-up a 1-minute run
        # ends inside of (the heap settles over the first ~10 minutes of frames, then stays)
        result[f"peak_rss_ratio{suffix}"] = round(rss[lengths[-1]] / rss[1.0], 3)
        if len(lengths) > 2:  # the longest over the next longest: growth with length once settled
            result[f"peak_rss_ratio_long{suffix}"] = round(rss[lengths[-1]] / rss[lengths[-2]], 3)
    if video is not None:
        n, s = decode_only(video)
        m, t, size = ingest_once(video, work / "store-real", encoder)
        result["real_video"] = {"path": str(video), "decode_fps": round(n / s, 1), "ingest_fps": round(m / t, 1),
                                "ratio": round((m / t) / (n / s), 3), "store_bytes": size}  # fmt: skip
    result["goals"] = {
        "ingest_to_decode_ratio_no_ocr": ">= 0.8",
        "peak_rss_ratio_long": "<= 1.1 (flat in video length)",
        "peak_rss_ratio": "reported: includes the first minutes' warm-up",
        "peak_rss_mb": "< 1000 at 640x360",
        "stored_mb_per_video_hour": "<= 20",
    }
    return result


def run_cli(args, generate: Callable[..., Any], speak: Callable | None = None) -> dict[str, Any]:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidmem-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else None
    long_minutes = args.long_minutes if isinstance(args.long_minutes, list) else [args.long_minutes]
    result = run(args.minutes, long_minutes, args.encoder, work, generate, video, speak)
    if not args.json:
        for key, value in result.items():
            print(f"{key:<30} {value}")
    return result
