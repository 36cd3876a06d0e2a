"""``vidmem eval memory``: retrieval benchmarks that print figures.

Tasks (and, per video, the memory methods side by side: ``eval.memory_compare``):
    frame-retrieval: frames taken from the video are asked back (``ask --image``); right when the
        top-1 evidence lies within 2 s of the frame's time. Runs on any video.
    caption-retrieval: questions paraphrasing a caption track are asked; right when the top-1
        evidence overlaps the caption's window. Runs when captions and questions are given
        (``eval/data/kitchen_caption_questions.json`` holds ours for ``kitchen.mp4``).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAME_TOLERANCE = 2.0
BUILTIN_QUESTIONS = Path(__file__).parent / "data"


def overlaps(t0: float, t1: float, windows: list[list[float]], tolerance: float = 0.0) -> bool:
    return any(t0 <= b + tolerance and t1 >= a - tolerance for a, b in windows)


def frame_retrieval(store_dir: Path, video: Path, n: int = 10, seed: int = 0) -> dict[str, Any]:
    """Asks ``n`` frames of the video back by image; top-1 within ``FRAME_TOLERANCE`` seconds."""
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.io import probe_video, sample_frames
    from vidmem.storage.store import MemoryStore

    duration = probe_video(str(video)).duration
    rng = np.random.default_rng(seed)
    times = sorted(rng.uniform(0, max(duration - 0.5, 0.1), n).round(1))
    frames = _frames_at(video, times, sample_frames)
    rows, latencies = [], []
    with MemoryStore(store_dir) as store:
        agent = RetrievalAgent(store)
        for t, frame in frames:
            start = time.perf_counter()
            answer = agent.ask("", image=frame)
            latencies.append(time.perf_counter() - start)
            top = answer.evidence[0]
            rows.append(
                {
                    "t": t,
                    "top1": [top.t_start, top.t_end],
                    "hit": overlaps(top.t_start, top.t_end, [[t, t]], FRAME_TOLERANCE),
                }
            )
    return _summary("frame-retrieval", rows, latencies)


def _frames_at(video: Path, times: list[float], sample_frames) -> list[tuple[float, np.ndarray]]:
    out = []
    for t in times:
        frame = next(iter(sample_frames(str(video), fps=10.0, start=t)), None)
        if frame is not None:
            out.append((float(frame.t), frame.image))
    return out


def caption_retrieval(store_dir: Path, questions: list[dict]) -> dict[str, Any]:
    """Asks each question; also scores lexical-only and dense-only top-1 over the text channel."""
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.storage.store import MemoryStore

    rows, latencies = [], []
    with MemoryStore(store_dir) as store:
        agent = RetrievalAgent(store)
        if agent.reader.text_encoder is not None:
            agent.reader.text_encoder.encode_text(["warm-up"])  # model loading is not question latency
        text_ids = store.select_ids("text", None)
        lexical_hits = dense_hits = 0
        for q in questions:
            start = time.perf_counter()
            answer = agent.ask(q["question"])
            latencies.append(time.perf_counter() - start)
            top = answer.evidence[0]
            hit = overlaps(top.t_start, top.t_end, q["windows"])
            lex = agent.reader.lexical_text(q["question"], 1, text_ids)
            dense = agent.reader.dense_text(q["question"], 1, text_ids)
            lexical_hits += bool(lex) and overlaps(lex[0].entry.t_start, lex[0].entry.t_end, q["windows"])
            dense_hits += bool(dense) and overlaps(dense[0].entry.t_start, dense[0].entry.t_end, q["windows"])
            rows.append({"question": q["question"], "top1": [top.t_start, top.t_end], "text": top.text, "hit": hit})
    out = _summary("caption-retrieval", rows, latencies)
    out["lexical_only_top1_accuracy"] = round(lexical_hits / max(1, len(questions)), 4)
    out["dense_only_top1_accuracy"] = round(dense_hits / max(1, len(questions)), 4)
    return out


def ocr_cost(video: Path, n: int = 8) -> dict[str, Any]:
    """Milliseconds of OCR per keyframe-sized frame of this video (rapidocr, text-presence test on)."""
    from vidmem.io import probe_video, sample_frames
    from vidmem.text.ocr import OCRConfig, RapidOCRReader

    engine = RapidOCRReader(OCRConfig())
    engine.check_available()
    duration = probe_video(str(video)).duration
    times = list(np.linspace(0, max(0.0, duration - 0.5), n))
    frames = [f for _, f in _frames_at(video, times, sample_frames)]
    start = time.perf_counter()
    for frame in frames:
        engine.read_text(frame)
    per = (time.perf_counter() - start) / max(1, len(frames))
    return {
        "frames": len(frames),
        "ms_per_keyframe": round(per * 1000, 1),
        "size": list(frames[0].shape[:2]) if frames else None,
    }


def _summary(task: str, rows: list[dict], latencies: list[float]) -> dict[str, Any]:
    return {
        "task": task,
        "questions": len(rows),
        "top1_accuracy": round(sum(r["hit"] for r in rows) / max(1, len(rows)), 4),
        "latency_ms_mean": round(1000 * statistics.mean(latencies), 1) if latencies else None,
        "latency_ms_p50": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "rows": rows,
    }


def load_questions(path: Path | None, video: Path) -> list[dict] | None:
    """Questions from a file, or our built-in set when the video is one it was written for."""
    if path is None:
        for candidate in BUILTIN_QUESTIONS.glob("*_caption_questions.json"):
            data = json.loads(candidate.read_text())
            if data.get("video") == video.name:
                return data["questions"]
        return None
    data = json.loads(Path(path).read_text())
    return data["questions"] if isinstance(data, dict) else data


def run_cli(args) -> dict[str, Any]:
    from eval.memory_compare import combine, compare_video, parse_boundaries
    from vidmem.errors import VidmemError
    from vidmem.ingest import IngestConfig, index_video

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidmem-eval-"))
    options = {"boundaries": parse_boundaries(getattr(args, "boundaries", None) or []),
               "tolerance": getattr(args, "boundary_tolerance", 1.0), "sort_pairs": getattr(args, "sort_pairs", 20),
               "budget": getattr(args, "budget", None)}  # fmt: skip
    fps, clip_seconds = getattr(args, "fps", 1.0), getattr(args, "clip_seconds", 2.0)
    results = []
    for i, video in enumerate(Path(v) for v in args.video):
        captions = args.captions[i] if i < len(args.captions) else None
        store = work / f"{video.stem}-store"
        config = IngestConfig(captions=captions, ocr=True, fps=fps, clip_seconds=clip_seconds)
        started = time.perf_counter()
        report = index_video(video, store, config, reindex=True)
        entry: dict[str, Any] = {"video": str(video), "index_seconds": round(time.perf_counter() - started, 2)}
        entry["memories"] = report.entries
        entry["frame_retrieval"] = frame_retrieval(store, video)
        questions = load_questions(Path(args.questions) if args.questions else None, video) if captions else None
        if captions and questions is None:
            raise VidmemError(f"no caption questions for {video.name}; pass --questions FILE")
        if questions:
            entry["caption_retrieval"] = caption_retrieval(store, questions)
            top1 = entry["caption_retrieval"]["top1_accuracy"]
            options["questions"] = {"vidmem_top1": top1, "items": questions}
        entry["methods"] = compare_video(video, store, config, options)
        options.pop("questions", None)
        entry["ocr"] = ocr_cost(video)
        results.append(entry)
        if not args.json:
            _print(entry)
    out = {"work": str(work), "results": results}
    out.update(combine([Path(v).name for v in args.video], [e["methods"] for e in results]))
    return out


def _print(entry: dict[str, Any]) -> None:
    print(f"{entry['video']}: indexed in {entry['index_seconds']} s")
    for key in ("frame_retrieval", "caption_retrieval"):
        r = entry.get(key)
        if r:
            extra = ""
            if key == "caption_retrieval":
                lex, dense = r["lexical_only_top1_accuracy"], r["dense_only_top1_accuracy"]
                extra = f" (lexical only {lex:.2f}, dense only {dense:.2f})"
            print(f"  {r['task']:<18} top-1 {r['top1_accuracy']:.2f} over {r['questions']}{extra}, "
                  f"{r['latency_ms_mean']} ms/question mean, {r['latency_ms_p50']} ms p50")  # fmt: skip
    print(f"  ocr                {entry['ocr']['ms_per_keyframe']} ms per keyframe")
