"""``index --cluster ray``: the same videos as Ray tasks give the same store; a worker that dies is
retried once, then reported; a dead address is one line."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.vidmem.collection_helpers import differences, ray_crash_on_marked, ray_crash_once, store_content
from vidmem.cli import main
from vidmem.collection import CollectionConfig, index_collection
from vidmem.ingest import IngestConfig
from vidmem.storage.store import MemoryStore

CONFIG = IngestConfig(ocr=False, speech=False)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[str]:
    from demos.sample_video import make_sample_video

    root = tmp_path_factory.mktemp("ray-videos")
    paths = []
    for i in range(3):
        make_sample_video(root / f"v{i}.mp4", duration=20.0, fps=4.0, size=(160, 96), seed=10 + i)
        paths.append(str(root / f"v{i}.mp4"))
    (root / "v1.srt").write_text("1\n00:00:04,000 --> 00:00:08,000\na heron waits by the lock gate\n")
    return paths


@pytest.fixture(scope="module")
def cluster():
    """One local 2-CPU Ray cluster for the module's Ray tests (starting one costs seconds)."""
    import ray  # the cluster extra installs it; a missing ray fails here rather than skipping

    # the workers import the tests' task bodies (tests.vidmem.collection_helpers) from the checkout
    env = {"env_vars": {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 << 20, runtime_env=env)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_local_ray_cluster_builds_the_local_store(cluster, videos, tmp_path):
    local = index_collection(videos, tmp_path / "local", CONFIG)
    assert local.counts() == {"indexed": 3}
    broken = tmp_path / "missing.mp4"
    report = index_collection([*videos, str(broken)], tmp_path / "ray", CONFIG, CollectionConfig(cluster="ray"))
    assert report.counts() == {"indexed": 3, "failed": 1}, [r.reason for r in report.results]
    assert [r.reason for r in report.results if r.status == "failed"] == ["not found"]
    assert differences(store_content(tmp_path / "ray"), store_content(tmp_path / "local")) == []


@pytest.mark.slow
def test_a_ray_worker_that_dies_is_retried_once_then_reported(cluster, videos, tmp_path):
    doomed = tmp_path / "crash.mp4"
    doomed.write_bytes(Path(videos[2]).read_bytes() + b"\0")  # another fingerprint, same pictures
    run = CollectionConfig(cluster="ray")
    report = index_collection([videos[0], str(doomed)], tmp_path / "s1", CONFIG, run, encode=ray_crash_on_marked)
    outcome = {Path(r.video).name: (r.status, r.reason) for r in report.results}
    assert outcome == {
        "v0.mp4": ("indexed", ""), "crash.mp4": ("failed", "worker died (2 tries): WorkerCrashedError"),
    }  # fmt: skip
    with MemoryStore(tmp_path / "s1", read_only=True) as store:
        assert [Path(s.path).name for s in store.sources()] == ["v0.mp4"]

    once = tmp_path / "once"
    once.mkdir()
    copies = [once / Path(v).name for v in videos[:2]]
    for src, dst in zip(videos, copies, strict=False):
        dst.write_bytes(Path(src).read_bytes())
    report = index_collection([str(c) for c in copies], tmp_path / "s2", CONFIG, run, encode=ray_crash_once)
    assert report.counts() == {"indexed": 2}, [r.reason for r in report.results]
    assert all(Path(str(c) + ".crashed").exists() for c in copies)  # each worker did die at its first try
    reference = index_collection([str(c) for c in copies], tmp_path / "s3", CONFIG)
    assert reference.counts() == {"indexed": 2}
    assert differences(store_content(tmp_path / "s2"), store_content(tmp_path / "s3")) == []


def test_a_ray_address_that_does_not_answer_is_one_line(videos, tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    code = main(["index", *videos, "--store", str(tmp_path / "s"), "--cluster", f"ray://127.0.0.1:{port}"])
    assert code == 2 and time.monotonic() - t0 < 60  # a bound, not a speed target: it must not hang
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: the Ray cluster at ray://127.0.0.1:{port} does not answer")
    assert not (tmp_path / "s").exists()  # refused before anything was created
