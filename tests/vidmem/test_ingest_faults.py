"""Ingest under faults: two writers of one video, kill -9 and resume, more texts than the vector cache holds."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demos.subtitles import write_srt
from tests.vidmem.test_pipeline import _committed_clips
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage.store import MemoryStore
from vidmem.text.spans import TextSpan

REPO = Path(__file__).resolve().parents[2]
NO_OCR = {"ocr": False, "speech": False} if "speech" in IngestConfig.__dataclass_fields__ else {"ocr": False}


def _index_cmd(video: Path, store: Path, *extra: str) -> list[str]:
    flags = ["--no-ocr"] + (["--no-speech"] if "speech" in NO_OCR else [])
    return [sys.executable, "-m", "vidmem.cli", "index", str(video), "--store", str(store), *flags, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _lock_holder(store: Path) -> int | None:
    """The pid written in the store's one source lock file, once a writer holds it."""
    locks = list((store / "locks").glob("*.lock")) if (store / "locks").is_dir() else []
    for lock in locks:
        try:
            return int(json.loads(lock.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None
    return None


def _wait_for(predicate, seconds: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _clip_starts(store: Path) -> list[float]:
    with MemoryStore(store, read_only=True) as s:
        return [e.t_start for e in s.get_entries(s.select_ids("episodic", "clip"))]


def test_a_second_writer_of_the_same_video_is_refused_naming_the_first(sample_video, tmp_path):
    video, _ = sample_video(duration=60.0, fps=5.0)
    store = tmp_path / "store"
    first = subprocess.Popen(_index_cmd(video, store), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _lock_holder(store) == first.pid, what="the first writer's lock")
        first.send_signal(signal.SIGSTOP)  # hold it mid-ingest, however fast this machine is
        second = subprocess.run(_index_cmd(video, store), env=_env(), capture_output=True, text=True)
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    lines = second.stderr.strip().splitlines()
    assert second.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), second.stderr
    assert f"process {first.pid}" in lines[0] and video.name in lines[0], lines[0]
    assert _clip_starts(store) == [2.0 * i for i in range(30)]  # every clip once, none twice


def test_two_videos_still_index_into_one_store_at_once(sample_video, tmp_path):
    a, _ = sample_video(duration=30.0, fps=5.0, seed=11)
    b, _ = sample_video(duration=20.0, fps=5.0)
    store = tmp_path / "store"
    procs = [subprocess.Popen(_index_cmd(v, store), env=_env(), stderr=subprocess.PIPE) for v in (a, b)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with MemoryStore(store, read_only=True) as s:
        counts = sorted(s.count("episodic", "clip", src.id) for src in s.sources())
    assert counts == [10, 15]


_KILL_CHILD = """
import sys
from vidmem.ingest import IngestConfig, index_video
index_video(sys.argv[1], sys.argv[2], IngestConfig(commit_every=4, subtitles=(sys.argv[3],), **{flags}))
"""


def _entries(store: Path) -> list[tuple]:
    db = sqlite3.connect(store / "store.sqlite")
    rows = db.execute(
        "SELECT store, scale, t_start, t_end, vector, tvector, keyframe, text FROM entries "
        "ORDER BY store, scale, t_start, t_end, text"
    ).fetchall()
    db.close()
    return rows


def _varied_subtitles(path: Path, seconds: float) -> Path:
    """Cues of many lengths (so batches pad differently) whose words repeat (so facts form)."""
    spans = []
    for i in range(int(seconds / 3)):
        words = " ".join(["the red kettle", "a blue door", "seven trains"][i % 3] for _ in range(1 + i % 5))
        spans.append(TextSpan(3.0 * i, 3.0 * i + 2.5, f"line {i}: {words}", "subtitle"))
    return write_srt(spans, path)


def test_killed_and_resumed_ingest_writes_bit_identical_vectors(sample_video, tmp_path):
    video, _ = sample_video(duration=120.0, fps=2.0)
    srt = _varied_subtitles(tmp_path / "talk.srt", 120.0)
    config = IngestConfig(commit_every=4, subtitles=(str(srt),), **NO_OCR)
    reference = tmp_path / "reference"
    index_video(video, reference, config)
    killed = tmp_path / "killed"
    child = _KILL_CHILD.format(flags=NO_OCR)
    proc = subprocess.Popen([sys.executable, "-c", child, str(video), str(killed), str(srt)], cwd=REPO, env=_env())
    _wait_for(lambda: _committed_clips(killed) >= 16 or proc.poll() is not None, what="checkpoints")
    proc.send_signal(signal.SIGKILL)  # the dead writer's lock must not block the resume
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert 0 < _committed_clips(killed) < 60
    report = index_video(video, killed, config)
    assert report.status == "resumed"
    got, want = _entries(killed), _entries(reference)
    assert len(got) == len(want) and sum(r[5] is not None for r in want) > 100
    assert [r for r in got if r not in set(want)] == []


@pytest.mark.slow
def test_more_distinct_texts_than_the_vector_cache_holds(sample_video, tmp_path):
    video, _ = sample_video(duration=20.0, fps=5.0)
    n = 25_000
    spans = [TextSpan(round(i * 19.0 / n, 3), round(i * 19.0 / n, 3) + 0.5, f"q{i}", "subtitle") for i in range(n)]
    srt = write_srt(spans, tmp_path / "many.srt")
    store = tmp_path / "store"
    report = index_video(video, store, IngestConfig(subtitles=(str(srt),), **NO_OCR))
    assert report.status == "indexed"
    with MemoryStore(store, read_only=True) as s:
        assert s.count("text", "subtitle") == n
        assert len(s.select_ids("text", "subtitle", with_text=True)) == n  # every cue has its text vector
        hits = s.lexical_search("q24999", 3)
        assert s.get_entries([hits[0][0]])[0].t_start == pytest.approx(round(24_999 * 19.0 / n, 3))
