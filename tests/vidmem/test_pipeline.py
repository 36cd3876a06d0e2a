"""End to end: generated video -> index -> store -> ask, with the classical and tiny open_clip encoders."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from demos.sample_video import render_frame
from vidmem.agent.agent import RetrievalAgent
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage.store import MemoryStore

REPO = Path(__file__).resolve().parents[2]
NO_TEXT = {"ocr": False, "auto_subtitles": False, "embedded_subtitles": False}


def _gap(t: float, e) -> float:
    """Seconds between time ``t`` and an evidence interval (0 inside it)."""
    return max(0.0, e.t_start - t, t - e.t_end)


@pytest.fixture(scope="module")
def ten_minutes(sample_video, tmp_path_factory):
    video, manifest = sample_video(duration=600.0, fps=2.0)
    store = tmp_path_factory.mktemp("stores") / "ten"
    report = index_video(video, store, IngestConfig(**NO_TEXT))
    return video, manifest, store, report


def test_index_builds_every_store_at_every_scale(ten_minutes):
    _, _, store, report = ten_minutes
    assert report.status == "indexed" and report.clips == 300
    with MemoryStore(store) as s:
        groups = {f"{a}@{b}" if b else a: n for a, b, n in s.groups()}
        assert groups["episodic@clip"] == 300
        # windows near their target lengths, cut at scene changes (every 10 s in this video)
        for scale, target in (("30s", 30.0), ("180s", 180.0), ("600s", 600.0)):
            windows = s.get_entries(s.select_ids("episodic", scale))
            spans = [w.t_end - w.t_start for w in windows]
            assert sum(spans) == pytest.approx(600.0)
            assert max(spans) <= 1.5 * target + 1e-6
            assert all(abs(w.t_start % 10.0) < 1e-6 for w in windows[1:]) or scale == "600s"
        assert 10 <= groups["visual"] <= 150
        assert groups["semantic"] >= 8
        kf = s.get_entries(s.select_ids("visual"))[0].keyframe
        assert (store / "keyframes" / kf).is_file()


def test_image_query_from_minute_seven_finds_its_time(ten_minutes):
    _, manifest, store, _ = ten_minutes
    for t in (420.0, 421.5):
        with MemoryStore(store) as s:
            answer = RetrievalAgent(s).ask("", image=render_frame(manifest, t))
        assert _gap(t, answer.evidence[0]) <= 2.0, answer.evidence[0]


def test_how_many_times_by_image_counts_the_scene_once(ten_minutes):
    _, manifest, store, _ = ten_minutes
    with MemoryStore(store) as s:
        answer = RetrievalAgent(s).ask("How many times does this appear?", image=render_frame(manifest, 305.0))
    assert answer.text.startswith("1 time")
    assert _gap(305.0, answer.evidence[0]) <= 5.0


def test_reopened_store_gives_the_same_answers(ten_minutes):
    video, manifest, store, _ = ten_minutes
    frame = render_frame(manifest, 123.0)
    with MemoryStore(store) as s:
        first = RetrievalAgent(s).ask("", image=frame).to_json()
    with MemoryStore(store) as s:
        second = RetrievalAgent(s).ask("", image=frame).to_json()
    assert first == second
    again = index_video(video, store, IngestConfig(**NO_TEXT))
    assert again.status == "already indexed" and again.new_clips == 0
    with MemoryStore(store) as s:
        assert s.count("episodic", "clip") == 300


def test_time_window_restricts_evidence(ten_minutes):
    _, manifest, store, _ = ten_minutes
    with MemoryStore(store) as s:
        answer = RetrievalAgent(s).ask("", image=render_frame(manifest, 420.0), window=(0.0, 300.0))
    assert all(e.t_start <= 300.0 for e in answer.evidence)


def _snapshot(store: Path) -> list[tuple]:
    db = sqlite3.connect(store / "store.sqlite")
    rows = db.execute(
        "SELECT store, scale, t_start, t_end, vector, keyframe, text, extra FROM entries "
        "ORDER BY store, scale, t_start, t_end"
    ).fetchall()
    db.close()
    return rows


def test_ingest_killed_midway_resumes_to_the_same_store(sample_video, tmp_path):
    video, _ = sample_video(duration=900.0, fps=1.0, size=(320, 180), seed=3)
    reference = tmp_path / "reference"
    index_video(video, reference, IngestConfig(commit_every=4, **NO_TEXT))
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-c", _KILL_CHILD, str(video), str(killed)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    progress = 0
    while time.monotonic() < deadline and progress < 40:
        progress = _committed_clips(killed)
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with MemoryStore(killed) as s:
        (src,) = s.sources()
        assert src.status == "partial", "the ingest finished before it could be killed"
        assert 0 < src.next_clip < 450
    report = index_video(video, killed, IngestConfig(commit_every=4, **NO_TEXT))
    assert report.status == "resumed" and report.new_clips == 450 - src.next_clip
    assert _snapshot(killed) == _snapshot(reference)
    ref_frames = sorted(p.relative_to(reference) for p in (reference / "keyframes").rglob("*.jpg"))
    assert ref_frames == sorted(p.relative_to(killed) for p in (killed / "keyframes").rglob("*.jpg"))


_KILL_CHILD = """
import sys
from vidmem.ingest import IngestConfig, index_video
config = IngestConfig(commit_every=4, ocr=False, auto_subtitles=False, embedded_subtitles=False)
index_video(sys.argv[1], sys.argv[2], config)
"""


def _committed_clips(store: Path) -> int:
    if not (store / "store.sqlite").is_file():
        return 0
    try:
        db = sqlite3.connect(f"file:{store / 'store.sqlite'}?mode=ro", uri=True, timeout=0.1)
        row = db.execute("SELECT next_clip FROM sources").fetchone()
        db.close()
    except sqlite3.Error:
        return 0
    return row[0] if row else 0


def test_tiny_openclip_and_classical_run_through_the_same_pipeline(sample_video, tmp_path):
    video, manifest = sample_video(duration=40.0, fps=5.0)
    results = {}
    for name in ("classical", "tiny"):
        store = tmp_path / name
        index_video(video, store, IngestConfig(encoder=name, **NO_TEXT))
        with MemoryStore(store) as s:
            meta = s.get_meta("encoder")
            clips = s.get_entries(s.select_ids("episodic", "clip"))
            answer = RetrievalAgent(s).ask("", image=render_frame(manifest, 25.0))
        results[name] = (meta, clips, answer)
    assert results["tiny"][0]["dim"] == 64 and results["classical"][0]["name"] == "classical"
    for meta, clips, answer in results.values():
        assert [c.t_start for c in clips] == [2.0 * i for i in range(20)]
        assert all(len(c.vector) == meta["dim"] for c in clips)
        assert answer.evidence and answer.evidence[0].source in ("episodic@clip", "visual")
    # the tiny CLIP has a text tower, so a text question reaches the picture without any text channel
    with MemoryStore(tmp_path / "tiny") as s:
        answer = RetrievalAgent(s).ask("a red circle")
    first = answer.trace[0]
    assert (first["source"], first["scale"]) == ("episodic", "clip") and first["hits"][0]["via"] == "clip-text"


def test_cli_index_info_ask_json(sample_video, tmp_path):
    video, manifest = sample_video(duration=40.0, fps=5.0)
    store = tmp_path / "store"
    frame_png = tmp_path / "frame.png"
    import cv2

    cv2.imwrite(str(frame_png), render_frame(manifest, 31.0)[:, :, ::-1])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "vidmem.cli", *a], capture_output=True, text=True, env=env)  # noqa: E731
    out = run("index", str(video), "--store", str(store), "--no-ocr", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["clips"] == 20
    info = json.loads(run("info", str(store), "--json").stdout)
    assert info["memories"]["episodic@clip"] == 20 and info["sources"][0]["status"] == "complete"
    out = run("ask", str(store), "", "--image", str(frame_png), "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == {"answer", "found", "choice", "confidence", "evidence", "trace"}
    top = answer["evidence"][0]
    assert {"source", "t_start", "t_end", "score", "text", "keyframe"} <= set(top)
    assert max(0.0, top["t_start"] - 31.0, 31.0 - top["t_end"]) <= 2.0
    assert 0.0 <= answer["confidence"] <= 1.0 and np.isfinite(top["score"])


def test_ask_a_video_indexes_it_into_a_cache_store_once(sample_video, tmp_path):
    video, manifest = sample_video(duration=40.0, fps=5.0)
    frame_png = tmp_path / "frame.png"
    import cv2

    cv2.imwrite(str(frame_png), render_frame(manifest, 15.0)[:, :, ::-1])
    env = {**os.environ, "PYTHONPATH": str(REPO), "VIDMEM_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "vidmem.cli", "ask", str(video), "", "--image", str(frame_png), "--no-ocr", "--json"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "indexed" in first.stderr
    (store,) = (tmp_path / "home" / "stores").iterdir()
    assert store.name.startswith(video.stem)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0 and "indexed" not in second.stderr
    assert json.loads(first.stdout)["evidence"] == json.loads(second.stdout)["evidence"]
    top = json.loads(second.stdout)["evidence"][0]
    assert top["t_start"] - 2.0 <= 15.0 <= top["t_end"] + 2.0


def test_clip_budget_merges_similar_neighbours_while_streaming(sample_video, tmp_path):
    video, manifest = sample_video(duration=120.0, fps=2.0)
    store = tmp_path / "budget"
    index_video(video, store, IngestConfig(clip_budget=12, commit_every=4, **NO_TEXT))
    with MemoryStore(store) as s:
        clips = s.get_entries(s.select_ids("episodic", "clip"))
        # within budget, still covering the whole video without gaps or overlaps
        assert len(clips) == 12
        assert clips[0].t_start == 0.0 and clips[-1].t_end == 120.0
        assert all(a.t_end == b.t_start for a, b in zip(clips, clips[1:], strict=False))
        assert sum(c.extra["clips"] for c in clips) == 60
        # neighbours that look alike merged first: merged clips stay inside one 10 s scene
        inside = sum(int(c.t_start // 10) == int((c.t_end - 1e-6) // 10) for c in clips)
        assert inside >= 10
        answer = RetrievalAgent(s).ask("", image=render_frame(manifest, 75.0))
    assert _gap(75.0, answer.evidence[0]) <= 10.0


def test_one_store_holds_several_videos_and_says_which(sample_video, tmp_path):
    first, _ = sample_video(duration=30.0, fps=5.0, seed=11)
    second, manifest = sample_video(duration=30.0, fps=5.0, seed=12)
    store = tmp_path / "shared"
    for video in (first, second):
        index_video(video, store, IngestConfig(**NO_TEXT))
    with MemoryStore(store) as s:
        assert [Path(src.path).name for src in s.sources()] == [first.name, second.name]
        answer = RetrievalAgent(s).ask("", image=render_frame(manifest, 12.0))
    top = answer.evidence[0]
    assert Path(top.video).name == second.name and _gap(12.0, top) <= 2.0
    with pytest.raises(Exception, match="built with encoder 'classical'"):
        index_video(first, store, IngestConfig(encoder="tiny", **NO_TEXT))
