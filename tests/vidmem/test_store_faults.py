"""Damaged, foreign and read-only stores: recognised before any write, checked on load, still answering."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from demos.sample_video import render_frame
from vidmem.errors import StoreError, StoreWarning
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage import index_files
from vidmem.storage import store as store_module
from vidmem.storage.store import MemoryStore

REPO = Path(__file__).resolve().parents[2]
NO_TEXT = {"ocr": False, "auto_subtitles": False, "embedded_subtitles": False}


def vidmem(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vidmem.cli", *args], capture_output=True, text=True, env=env)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode != 0, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def saved_flat(monkeypatch):
    """Flat indexes saved under ``index/`` like HNSW and IVF-PQ ones, so small stores exercise the file checks."""
    monkeypatch.setattr(store_module, "SAVE_FLAT_INDEXES", True)


@pytest.fixture(scope="module")
def built(sample_video, tmp_path_factory):
    """A store of a 20 s video (visual memories only, to stay quick) with its index files, and the video's manifest."""
    video, manifest = sample_video(duration=20.0, fps=5.0)
    store = tmp_path_factory.mktemp("faults") / "store"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "SAVE_FLAT_INDEXES", True)
        index_video(video, store, IngestConfig(**NO_TEXT))
    return store, manifest, video


def fresh_copy(built, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(built[0], copy)
    return copy


def clip_search(store_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every clip's own vector searched in the clip index: (scores, ids), whatever the index file held."""
    with MemoryStore(store_dir, read_only=True) as store:
        ids = store.select_ids("episodic", "clip")
        vecs = np.stack([e.vector for e in store.get_entries(ids)])
        return store.index("episodic@clip").search(vecs, 3)


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_foreign_sqlite_is_refused_and_left_byte_identical(tmp_path, journal):
    folder = tmp_path / "other-app"
    folder.mkdir()
    db = sqlite3.connect(folder / "store.sqlite")
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany("INSERT INTO notes(body) VALUES (?)", [(f"note {i}",) for i in range(50)])
    db.commit()
    db.close()
    before = snapshot(folder)
    for args in (("info", str(folder)), ("ask", str(folder), "what is in the notes?")):
        line = one_error_line(vidmem(*args))
        assert "store.sqlite" in line and "not a vidmem store" in line, line
    with pytest.raises(StoreError, match="another program"):
        MemoryStore(folder, create=True)
    assert snapshot(folder) == before


def test_a_schema_value_that_is_not_a_number_is_one_line_naming_the_file(built, tmp_path):
    store = fresh_copy(built, tmp_path)
    db = sqlite3.connect(store / "store.sqlite")
    db.execute("UPDATE meta SET value='\"abc\"' WHERE key='schema_version'")
    db.commit()
    db.close()
    line = one_error_line(vidmem("info", str(store)))
    assert "store.sqlite" in line and "schema version" in line and "'\"abc\"'" in line, line


@pytest.mark.parametrize("damage", ["flip", "swap"])
def test_a_damaged_index_file_is_rebuilt_from_sqlite_with_a_warning(built, tmp_path, damage, saved_flat):
    store = fresh_copy(built, tmp_path)
    expected = clip_search(store)
    target = store / "index" / "episodic@clip.faiss"
    if damage == "flip":  # flip bytes in the stored vectors, past the header
        data = bytearray(target.read_bytes())
        for pos in range(len(data) - 200, len(data) - 40, 7):
            data[pos] ^= 0x5A
        target.write_bytes(bytes(data))
    else:  # another group's index file copied over this one
        shutil.copy(store / "index" / "visual.faiss", target)
    with pytest.warns(StoreWarning, match="episodic@clip.faiss does not match its checksum"):
        got = clip_search(store)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[0], expected[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file was saved with its checksum: no warning now
        clip_search(store)


def read_only_mount(source: Path, mount: Path) -> bool:
    """Binds ``source`` read-only at ``mount`` when this machine lets the test (root, mount allowed)."""
    mount.mkdir()
    made = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True)
    if made.returncode != 0:
        return False
    if subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(mount)], capture_output=True)
        return False
    return True


def test_a_store_on_a_read_only_filesystem_answers(built, tmp_path, saved_flat):
    store = fresh_copy(built, tmp_path)
    shutil.rmtree(store / "index")  # the indexes must be rebuilt, and cannot be saved
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), render_frame(built[1], 13.0)[:, :, ::-1])
    mount = tmp_path / "ro"
    if read_only_mount(store, mount):
        try:
            out = vidmem("ask", str(mount), "", "--image", str(image), "--json")
            info = vidmem("info", str(mount), "--json")
        finally:
            subprocess.run(["umount", str(mount)], check=True)
        assert out.returncode == 0, out.stderr
        assert "error" not in out.stderr and "warning" not in out.stderr  # flat indexes are not saved: no warning
        top = json.loads(out.stdout)["evidence"][0]
        assert top["t_start"] <= 13.0 <= top["t_end"], top
        assert info.returncode == 0 and json.loads(info.stdout)["memories"]["episodic@clip"] == 10, info.stderr
        assert not (store / "index").exists()
    else:  # no mount here: SQLite's read-only path and an unwritable index folder, in process
        (store / "index").write_text("a file where the folder should be")
        with pytest.warns(StoreWarning, match="cannot save index"), MemoryStore(store, read_only=True) as s:
            assert s.read_only and s.index("episodic@clip").ntotal == 10


def test_ask_on_a_full_disk_still_answers_and_leaves_no_temp_file(built, tmp_path, monkeypatch, saved_flat):
    store = fresh_copy(built, tmp_path)
    expected = clip_search(store)
    shutil.rmtree(store / "index")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(index_files.os, "fsync", disk_full)
    with pytest.warns(StoreWarning, match="No space left on device"):
        got = clip_search(store)
    np.testing.assert_array_equal(got[1], expected[1])
    assert sorted(p.name for p in (store / "index").iterdir()) == []


def test_a_store_whose_creation_was_killed_is_created_again(tmp_path):
    store = tmp_path / "s"
    store.mkdir()
    (store / "store.sqlite.999999.creating").write_bytes(b"half a database")
    with MemoryStore(store, create=True) as s:
        assert s.get_meta("schema_version") == 1
    with MemoryStore(store, read_only=True) as s:
        assert s.read_only and s.get_meta("schema_version") == 1


def test_deleted_keyframes_are_reported_by_info_and_restored_by_index(built, tmp_path):
    store = fresh_copy(built, tmp_path)
    before = snapshot(store / "keyframes")
    shutil.rmtree(store / "keyframes")
    out = vidmem("info", str(store), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["missing_keyframes"] == len(before)
    assert f"warning: {len(before)} keyframe file(s) named by memories are missing" in out.stderr
    report = index_video(built[2], store, IngestConfig(**NO_TEXT))
    assert report.status == "already indexed" and report.restored_keyframes == len(before)
    assert snapshot(store / "keyframes") == before  # the very same thumbnails
    out = vidmem("info", str(store), "--json")
    assert json.loads(out.stdout)["missing_keyframes"] == 0 and "warning" not in out.stderr
