"""The benchmark code paths on small generated inputs (figures are printed by the CLI, not asserted as speeds)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from demos.sample_video import make_sample_video
from demos.subtitles import write_captions_json
from eval.bench_ingest import run_cli as bench_cli
from eval.memory_bench import caption_retrieval, frame_retrieval, load_questions
from vidmem.ingest import IngestConfig, index_video
from vidmem.text import TextSpan


def test_memory_tasks_score_retrieval_on_a_known_video(sample_video, tmp_path):
    video, manifest = sample_video(duration=60.0, fps=5.0)
    spans = [TextSpan(s.t_start, s.t_end, s.caption, "caption") for s in manifest.scenes]
    captions = write_captions_json(spans, tmp_path / "c.json", form="frames", fps=manifest.fps)
    store = tmp_path / "store"
    index_video(video, store, IngestConfig(captions=str(captions), ocr=False))
    frames = frame_retrieval(store, video, n=6)
    assert frames["questions"] == 6 and frames["top1_accuracy"] == 1.0
    questions = [{"question": f"When: {s.caption}?", "windows": [[s.t_start, s.t_end]]} for s in manifest.scenes]
    questions.append({"question": "When is the sky green?", "windows": [[1000.0, 1001.0]]})  # cannot be right
    result = caption_retrieval(store, questions)
    assert result["questions"] == 7
    assert abs(result["top1_accuracy"] - 6 / 7) < 1e-3
    assert result["rows"][-1]["hit"] is False


def test_builtin_kitchen_questions_load_for_the_kitchen_video(tmp_path):
    from pathlib import Path

    questions = load_questions(None, Path("/anywhere/kitchen.mp4"))
    assert len(questions) >= 15 and all(q["windows"] for q in questions)
    assert load_questions(None, Path("other.mp4")) is None


def test_bench_ingest_reports_every_figure(tmp_path):
    args = SimpleNamespace(
        minutes=0.5, long_minutes=[0.7, 1.5], encoder="classical", video=None, work=str(tmp_path), json=True
    )
    result = bench_cli(args, make_sample_video)
    json.dumps(result)
    for key in ("decode_fps", "ingest_fps", "ingest_to_decode_ratio", "stored_mb_per_video_hour", "peak_rss_ratio"):
        assert result[key] > 0, key
    assert set(result["peak_rss_mb"]) == {"1min", "0.7min", "1.5min"}
    long = result["peak_rss_mb"]["1.5min"] / result["peak_rss_mb"]["0.7min"]
    assert result["peak_rss_ratio_long"] == pytest.approx(long, abs=1e-3)
