"""Collections: folders and lists in, parallel workers, kill and resume, bad videos, ``--video``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vidmem.collection_helpers import crash_on_marked, crash_once, store_content
from vidmem.cli import main
from vidmem.collection import CollectionConfig, index_collection
from vidmem.ingest import IngestConfig

REPO = Path(__file__).resolve().parents[2]
CONFIG = IngestConfig(ocr=False, speech=False)
SUBTITLE = "the purple giraffe dances by the harbour"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Four short videos in a folder tree (one in a subfolder), a non-video file and subtitles."""
    from demos.sample_video import make_sample_video

    root = tmp_path_factory.mktemp("library")
    (root / "sub").mkdir()
    for i, rel in enumerate(["a.mp4", "b.mp4", "c.mp4", "sub/d.mp4"]):
        make_sample_video(root / rel, duration=24.0, fps=4.0, size=(160, 96), seed=i)
    for rel, words in (("a", "the kettle is on the stove"), ("b", SUBTITLE), ("c", "a train leaves at noon")):
        (root / f"{rel}.srt").write_text(f"1\n00:00:10,000 --> 00:00:14,000\n{words}\n")
    (root / "notes.txt").write_text("not a video")
    return root


@pytest.fixture(scope="module")
def sequential(library, tmp_path_factory) -> Path:
    """The reference: the library indexed by one worker, one video after another."""
    store = tmp_path_factory.mktemp("sequential") / "store"
    report = index_collection([str(library)], store, CONFIG)
    assert report.counts() == {"indexed": 4}
    return store


def test_folder_is_searched_for_videos_only(sequential, library):
    content = store_content(sequential)
    names = sorted(Path(p).name for p in content)
    assert names == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]  # the subfolder's video; no .txt, .srt or .json
    assert all(v["status"] == "complete" and v["clips"] == 12 for v in content.values())


def test_parallel_workers_build_the_sequential_store(sequential, library, tmp_path):
    store = tmp_path / "store"
    report = index_collection([str(library)], store, CONFIG, CollectionConfig(workers=2))
    assert report.counts() == {"indexed": 4}
    assert store_content(store) == store_content(sequential)
    assert not (store / "shards").exists()  # merged shards are removed
    again = index_collection([str(library / "a.mp4")], store, CONFIG, CollectionConfig(workers=2), reindex=True)
    assert again.counts() == {"indexed": 1}  # rebuilt, not skipped
    assert store_content(store) == store_content(sequential)


def test_list_reports_missing_and_undecodable_videos_and_goes_on(library, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIDMEM_HOME", str(tmp_path / "home"))
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(os.urandom(4096))
    listing = tmp_path / "videos.txt"
    listing.write_text(
        f"# my videos\n\n{library / 'a.mp4'}\n{library / 'nope.mp4'}\n  {garbage.name}  \n{library / 'sub/d.mp4'}\n"
        f"{(library / 'c.mp4').as_uri()}\n"
    )
    store = tmp_path / "store"
    code = main(["index", f"@{listing}", "--store", str(store), "--no-ocr", "--no-speech", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["counts"] == {"indexed": 3, "failed": 2}
    assert len(list((tmp_path / "home" / "downloads").glob("*-c.mp4"))) == 1  # a URL is fetched, then indexed
    reasons = {Path(f["video"]).name: f["reason"] for f in out["failures"]}
    assert reasons["nope.mp4"] == "not found"
    assert "broken.mp4" in reasons and reasons["broken.mp4"]  # the decoder's reason, by name

    assert main(["info", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_name = {Path(s["path"]).name: s for s in info["sources"]}
    assert {n: s["status"] for n, s in by_name.items()} == {
        "a.mp4": "complete", "d.mp4": "complete", "broken.mp4": "failed", "nope.mp4": "failed",
    } | {n: "complete" for n in by_name if n.endswith("-c.mp4")}  # fmt: skip
    assert by_name["a.mp4"]["clips"] == 12 and by_name["a.mp4"]["hours"] == pytest.approx(24 / 3600, abs=1e-4)
    assert by_name["a.mp4"]["bytes"] > 0 and by_name["broken.mp4"]["clips"] == 0


def test_killed_run_resumes_and_skips_videos_done(sequential, library, tmp_path):
    """The whole run (driver and workers) is killed with SIGKILL right after its first video is stored."""
    store = tmp_path / "store"
    script = (
        "import os, signal, sys\n"
        "from vidmem.collection import CollectionConfig, index_collection\n"
        "from vidmem.ingest import IngestConfig\n"
        "def die(line):\n"
        "    os.killpg(os.getpgid(0), signal.SIGKILL)\n"
        f"index_collection([{str(library)!r}], {str(store)!r}, IngestConfig(ocr=False, speech=False),\n"
        "                 CollectionConfig(workers=2), progress=die)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", script], env=env, start_new_session=True, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    first = [p for p, v in store_content(store).items() if v["status"] == "complete"]
    assert len(first) == 1

    report = index_collection([str(library)], store, CONFIG, CollectionConfig(workers=2))
    status = {r.video: r.status for r in report.results}
    assert [status[v] for v in status if str(Path(v).resolve()) == first[0]] == ["already indexed"]
    assert sorted(status.values()) == ["already indexed", "indexed", "indexed", "indexed"]
    assert store_content(store) == store_content(sequential)
    again = index_collection([str(library)], store, CONFIG, CollectionConfig(workers=2))
    assert again.counts() == {"already indexed": 4}


def test_a_dying_worker_is_retried_once_then_reported(library, tmp_path):
    doomed = tmp_path / "crash.mp4"
    doomed.write_bytes((library / "c.mp4").read_bytes() + b"\0")  # another fingerprint, same pictures
    videos = [str(library / "a.mp4"), str(doomed), str(library / "b.mp4")]
    report = index_collection(videos, tmp_path / "s1", CONFIG, CollectionConfig(workers=2), encode=crash_on_marked)
    outcome = {Path(r.video).name: (r.status, r.reason) for r in report.results}
    assert outcome["crash.mp4"] == ("failed", "worker process died (2 tries)")
    assert outcome["a.mp4"][0] == outcome["b.mp4"][0] == "indexed"

    report = index_collection(videos[:2], tmp_path / "s2", CONFIG, CollectionConfig(workers=2), encode=crash_once)
    assert report.counts() == {"indexed": 2}  # each died once, and its retry succeeded


def test_one_worker_run_builds_each_index_once(library, tmp_path, monkeypatch):
    """Not once per video: rebuilding every index after each video made a long run quadratic."""
    from vidmem.storage.store import MemoryStore

    built: list[str] = []
    original = MemoryStore._build_index

    def counting(self, column, where, args, n):
        built.append(f"{column} {where} {args}")
        return original(self, column, where, args, n)

    monkeypatch.setattr(MemoryStore, "_build_index", counting)
    monkeypatch.setattr("vidmem.storage.store.SAVE_FLAT_INDEXES", True)  # saved like a large store's HNSW files
    report = index_collection([str(library)], tmp_path / "store", CONFIG)
    assert report.counts() == {"indexed": 4}
    assert built and len(built) == len(set(built))  # every group once, at the end
    with MemoryStore(tmp_path / "store", read_only=True) as store:
        groups = [f"{name}@{scale}" if scale else name for name, scale, _ in store.groups()] + ["text-space"]
        before = len(built)
        assert sum(store.index(g) is not None for g in groups) == len(built)  # a group without vectors has none
    assert len(built) == before  # loaded from the files the run saved, not rebuilt


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie (dead, not yet reaped by its new parent) counts as dead."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_driver(library, tmp_path):
    """Only the driver is killed (SIGKILL); its two busy workers must not go on indexing for nobody."""
    store = tmp_path / "store"
    script = (
        "from vidmem.collection import CollectionConfig, index_collection\n"
        "from vidmem.ingest import IngestConfig\n"
        "from tests.vidmem.collection_helpers import hang_in_worker\n"
        f"index_collection([{str(library / 'a.mp4')!r}, {str(library / 'b.mp4')!r}], {str(store)!r},\n"
        "                 IngestConfig(ocr=False, speech=False), CollectionConfig(workers=2), encode=hang_in_worker)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60  # a bound for two spawned workers to start, not a speed target
        while len(workers) < 2 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.1)
            workers = [int(p.read_text()) for p in (store / "shards").glob("*.pid") if p.read_text()]
        assert len(workers) == 2, "the workers never started"
        assert all(_alive(pid) for pid in workers)
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers)  # they would sleep 120 s, then index
    finally:
        driver.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_ask_searches_every_video_and_video_restricts(sequential, library, capsys):
    question = "where does the purple giraffe dance?"
    assert main(["ask", str(sequential), question, "--json"]) == 0
    everywhere = json.loads(capsys.readouterr().out)
    assert everywhere["found"] and Path(everywhere["evidence"][0]["video"]).name == "b.mp4"
    assert everywhere["evidence"][0]["t_start"] <= 10.0 + 2 and everywhere["evidence"][0]["t_end"] >= 10.0

    assert main(["ask", str(sequential), "when does the purple giraffe dance?", "--json"]) == 0
    when = json.loads(capsys.readouterr().out)  # answered from occurrences, which must name their video too
    assert when["found"] and all(e["video"] for e in when["evidence"])
    assert Path(when["evidence"][0]["video"]).name == "b.mp4" and when["evidence"][0]["t_start"] == 10.0

    assert main(["ask", str(sequential), question, "--video", "a", "--json"]) == 0
    only_a = json.loads(capsys.readouterr().out)
    assert only_a["evidence"] and {Path(e["video"]).name for e in only_a["evidence"]} == {"a.mp4"}
    assert not only_a["found"]  # the giraffe is only in b's words

    assert main(["ask", str(sequential), question, "--video", "b.mp4", "--json"]) == 0
    only_b = json.loads(capsys.readouterr().out)
    assert only_b["found"] and {Path(e["video"]).name for e in only_b["evidence"]} == {"b.mp4"}

    assert main(["ask", str(sequential), question, "--video", "zebra"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--video 'zebra'" in err[0] and "a.mp4" in err[0]


def test_one_video_keeps_the_single_video_output(library, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["index", str(library / "a.mp4"), "--store", str(store), "--no-ocr", "--no-speech", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "indexed" and out["clips"] == 12 and "source_id" in out


def test_folder_without_readable_videos_is_one_error_and_leaves_the_store(sequential, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("no videos here")
    (folder / "fake.mp4").write_text("not a video either")
    before = store_content(sequential)
    assert main(["index", str(folder), "--store", str(sequential), "--no-ocr", "--no-speech"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no readable video in directory") and "fake.mp4" in err[0]
    assert store_content(sequential) == before
