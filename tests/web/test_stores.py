"""Warm stores: refreshed when another writer commits, refused with one line when not a store."""

from __future__ import annotations

import shutil

import pytest

from demos.sample_video import render_frame
from vidmem.cli import main
from vidmem.errors import StoreError
from vidmem.ingest import IngestConfig, index_video
from vidmem.web.stores import StoreHandle, store_names


def test_a_store_written_by_another_writer_is_served_with_what_it_committed(indexed, sample_video, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(indexed[0], store)
    handle = StoreHandle("s", store)
    try:
        handle.run(handle.warm)
        assert len(handle.run(handle.info)["sources"]) == 1
        video, manifest = sample_video(duration=20.0, fps=5.0, seed=7)
        index_video(video, store, IngestConfig(ocr=False, speech=False, auto_subtitles=False))
        info = handle.run(handle.info)
        assert [s["path"] for s in info["sources"]][1] == str(video.resolve())
        frame = render_frame(manifest, 15.0)
        answer = handle.run(handle.ask, "", frame, None, None)
        assert answer["evidence"][0]["video"] == str(video.resolve())
        assert 8.0 <= answer["evidence"][0]["t_start"] <= 16.0
    finally:
        handle.close()


def test_serve_refuses_a_folder_that_is_not_a_store(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["serve", str(tmp_path), "--port", "0"]) == 2
    assert "is not a vidmem store" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "no store at" in capsys.readouterr().err


def test_a_live_store_before_its_first_commit_says_so(tmp_path):
    handle = StoreHandle("live", tmp_path / "not-yet")
    with pytest.raises(StoreError, match="no store at"):
        handle.run(handle.info)
    handle.close()


def test_store_names_are_unique_and_url_safe(tmp_path):
    assert store_names([tmp_path / "a b", tmp_path / "x" / "a b", tmp_path / "c"]) == ["a-b", "a-b-2", "c"]
