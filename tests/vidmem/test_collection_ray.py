"""``index --cluster ray``: the same videos as Ray tasks give the same store; a dead address is one line."""

from __future__ import annotations

import socket
import time

import pytest

from tests.vidmem.collection_helpers import differences, store_content
from vidmem.cli import main
from vidmem.collection import CollectionConfig, index_collection
from vidmem.ingest import IngestConfig

CONFIG = IngestConfig(ocr=False, speech=False)


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


@pytest.mark.slow
def test_local_ray_cluster_builds_the_local_store(videos, tmp_path):
    import ray  # the cluster extra installs it; a missing ray fails here rather than skipping
    local = index_collection(videos, tmp_path / "local", CONFIG)
    assert local.counts() == {"indexed": 3}
    broken = tmp_path / "missing.mp4"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 << 20)
    try:
        report = index_collection([*videos, str(broken)], tmp_path / "ray", CONFIG, CollectionConfig(cluster="ray"))
    finally:
        ray.shutdown()
    assert report.counts() == {"indexed": 3, "failed": 1}, [r.reason for r in report.results]
    assert [r.reason for r in report.results if r.status == "failed"] == ["not found"]
    assert differences(store_content(tmp_path / "ray"), store_content(tmp_path / "local")) == []


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
