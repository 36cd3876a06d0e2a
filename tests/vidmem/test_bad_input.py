"""Bad input through the command line: one ``error:`` line, a non-zero exit, the store untouched."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.factories import mdat_garbage, overwrite, unknown_codec
from vidmem.storage.store import MemoryStore

REPO = Path(__file__).resolve().parents[2]


def _vidmem(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vidmem.cli", *args], capture_output=True, text=True, env=env)


def _assert_one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert out.stdout == ""


def _tree_digest(root: Path) -> dict[str, str]:
    """Content hashes of every file in a store, with the WAL checkpointed first."""
    db = sqlite3.connect(root / "store.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture(scope="module")
def good_store(sample_video, tmp_path_factory):
    video, _ = sample_video(duration=20.0, fps=5.0)
    store = tmp_path_factory.mktemp("good") / "store"
    out = _vidmem("index", str(video), "--store", str(store), "--no-ocr")
    assert out.returncode == 0, out.stderr
    return store


def _zero_frame_video(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    return path


def _mkv_copy(sample: Path, out: Path) -> Path:
    """Remuxes the sample into Matroska (no re-encoding)."""
    with av.open(str(sample)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return out


def _bad_inputs(folder: Path, sample: Path) -> dict[str, tuple[Path, str]]:
    text = folder / "notes.mp4"
    text.write_text("these are my notes, not a video\n" * 50)
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(sample.read_bytes()[: sample.stat().st_size * 3 // 10])
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "missing": (folder / "nope.mp4", "nope.mp4"),
        # a directory is a collection since issue 11 (tests/vidmem/test_collection.py covers one without videos)
        "not a video": (text, "notes.mp4"),
        "empty file": (empty, "empty.mp4"),
        "truncated": (truncated, "truncated.mp4"),
        "zero frames": (_zero_frame_video(folder / "zero.mkv"), "zero.mkv"),
        "nothing decodes": (mdat_garbage(sample, folder / "garbage.mp4"), "no decodable"),
        "unsupported codec": (unknown_codec(_mkv_copy(sample, folder / "ok.mkv"), folder / "codec.mkv"), "V_QQQQQ"),
    }


def test_each_bad_video_is_one_line_and_leaves_the_store(good_store, sample_video, tmp_path):
    sample, _ = sample_video(duration=20.0, fps=5.0)
    before = _tree_digest(good_store)
    for name, (path, needle) in _bad_inputs(tmp_path, sample).items():
        out = _vidmem("index", str(path), "--store", str(good_store), "--no-ocr")
        _assert_one_line_error(out, needle)
        assert _tree_digest(good_store) == before, f"{name} changed the store"


def test_corrupt_middle_is_skipped_with_a_warning_and_the_rest_kept(sample_video, tmp_path):
    sample, _ = sample_video(duration=20.0, fps=5.0)
    damaged = overwrite(sample, tmp_path / "damaged.mp4", 0.45, 0.55)
    store = tmp_path / "store"
    out = _vidmem("index", str(damaged), "--store", str(store), "--no-ocr", "--json")
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert any("skipped unreadable data" in w for w in warnings), out.stderr
    with MemoryStore(store) as s:
        starts = [e.t_start for e in s.get_entries(s.select_ids("episodic", "clip"))]
    assert starts[0] == 0.0 and starts[-1] == 18.0  # what came before and after the damage is kept
    assert len(starts) < 10  # the damaged stretch left a gap


def test_bad_video_does_not_create_a_store(tmp_path):
    text = tmp_path / "clip.mp4"
    text.write_bytes(os.urandom(4096))
    out = _vidmem("index", str(text), "--store", str(tmp_path / "new"), "--no-ocr")
    _assert_one_line_error(out, "clip.mp4")
    assert not (tmp_path / "new").exists()


def test_store_from_a_newer_schema_is_refused_untouched(good_store, sample_video, tmp_path):
    video, _ = sample_video(duration=20.0, fps=5.0)
    newer = tmp_path / "newer"
    newer.mkdir()
    for f in good_store.glob("store.sqlite*"):
        (newer / f.name).write_bytes(f.read_bytes())
    db = sqlite3.connect(newer / "store.sqlite")
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (json.dumps(99),))
    db.commit()
    db.close()
    before = _tree_digest(newer)
    _assert_one_line_error(_vidmem("index", str(video), "--store", str(newer), "--no-ocr"), "schema version 99")
    _assert_one_line_error(_vidmem("ask", str(newer), "anything"), "schema version 99")
    _assert_one_line_error(_vidmem("info", str(newer)), "schema version 99")
    assert _tree_digest(newer) == before


def test_directory_that_is_not_a_store(sample_video, tmp_path):
    video, _ = sample_video(duration=20.0, fps=5.0)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"not really a jpeg")
    _assert_one_line_error(_vidmem("index", str(video), "--store", str(folder), "--no-ocr"), "not a vidmem store")
    _assert_one_line_error(_vidmem("ask", str(folder), "where is the cat?"), "not a vidmem store")
    _assert_one_line_error(_vidmem("info", str(folder)), "not a vidmem store")
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]


def test_bad_questions_and_options(good_store, tmp_path):
    _assert_one_line_error(_vidmem("ask", str(good_store), "where is the cat?"), "no text channel")
    _assert_one_line_error(_vidmem("ask", str(good_store), "", "--image", str(tmp_path / "none.png")), "none.png")
    _assert_one_line_error(_vidmem("ask", str(good_store), "which?", "--choice", "only one"), "two --choice")
    _assert_one_line_error(
        _vidmem("index", "x.mp4", "--store", str(tmp_path / "s"), "--encoder", "clasical"), "did you mean"
    )


def test_debug_flag_shows_the_traceback(tmp_path):
    out = _vidmem("--debug", "info", str(tmp_path / "missing"))
    assert out.returncode != 0 and "Traceback" in out.stderr
