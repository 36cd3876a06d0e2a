"""``index --cluster ray[://ADDRESS]``: a collection's videos as Ray tasks; the driver writes the store.

Each task indexes one video into a temporary shard store on its worker, exports it as compact
records (``vidmem.storage.shards.SourceRecords``: float16 vectors, JPEG keyframes, texts) and
returns them; the driver imports each video's records in one transaction as it arrives. Workers
never touch the store, so it may live on the driver's disk only; the videos must be readable by
the workers at the same paths (a shared filesystem on a real cluster).

A task whose worker process dies is retried once by Ray (``max_retries``), then its video is
reported; a task that raises (an unreadable video) is reported at once with its reason.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from vidmem.errors import VidmemError
from vidmem.ingest import IngestConfig

LOCAL_OBJECT_STORE_BYTES = 256 << 20
"""Object store of a local cluster started for a run: records of one video are a few MB per hour."""


def encode_records(video: str, config: IngestConfig) -> Any:
    """Ray task body: one video -> ``SourceRecords`` (indexed in a temporary shard, then exported)."""
    from vidmem.ingest import fingerprint, index_video
    from vidmem.storage.shards import export_source
    from vidmem.storage.store import MemoryStore

    with tempfile.TemporaryDirectory(prefix="vidmem-shard-") as tmp:
        shard = Path(tmp) / "store"
        index_video(video, shard, config, build_indexes=False)  # exported, never searched: no indexes
        with MemoryStore(shard, read_only=True) as part:
            return export_source(part, fingerprint(Path(video)))


def run_on_ray(store, todo: list, config: IngestConfig, run, reindex: bool, tracker, body=None) -> None:
    """Runs ``todo`` (``(path, fingerprint)`` pairs) as Ray tasks and imports their records.

    ``body`` is the task function (``encode_records`` unless a test swaps it). Uses the Ray
    session already initialised in this process (a test's ``ray.init``); otherwise starts a local
    cluster for the run (``run.cluster == "ray"``) or connects to ``ray://ADDRESS``, and shuts
    down what it started.
    """
    import ray

    from vidmem.collection import VideoResult, _indexed, _reason
    from vidmem.storage.shards import import_source

    started_here = _connect(ray, run)
    try:
        # max_retries counts only system failures (the worker process died), not exceptions
        task = ray.remote(num_cpus=1, max_retries=run.retries, retry_exceptions=False)(body or encode_records)
        pending = {task.remote(str(Path(video).resolve()), config): (video, identity) for video, identity in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            video, identity = pending.pop(done[0])
            try:
                records = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the task raised: an unreadable video
                tracker.add(VideoResult(str(video), "failed", _reason(exc.cause or exc)))
                continue
            except ray.exceptions.RayError as exc:  # its worker died (after the retry), or its node
                reason = f"worker died ({run.retries + 1} tries): {type(exc).__name__}"
                tracker.add(VideoResult(str(video), "failed", reason))
                continue
            try:
                import_source(store, records, replace=reindex)
            except Exception as exc:
                tracker.add(VideoResult(str(video), "failed", f"cannot write its records: {_reason(exc)}"))
                continue
            tracker.add(_indexed(store, video, identity, "indexed"))
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, run) -> bool:
    """Initialises Ray for the run; returns True when this call started the session."""
    if ray.is_initialized():
        return False
    names = ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    env = {"env_vars": {k: os.environ.get(k, "1") for k in names}}
    if run.cluster == "ray":
        ray.init(
            num_cpus=run.workers if run.workers > 1 else os.cpu_count(), include_dashboard=False,
            log_to_driver=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, runtime_env=env,
            logging_level=logging.ERROR,  # Ray's own INFO/WARNING lines would break the CLI's one-line output
        )  # fmt: skip
        return True
    check_reachable(run.cluster, run.connect_timeout)
    try:
        ray.init(address=run.cluster, runtime_env=env, log_to_driver=False, logging_level=logging.ERROR)
    except Exception as exc:
        raise VidmemError(f"cannot join the Ray cluster at {run.cluster}: {' '.join(str(exc).split())}") from None
    return True


def check_reachable(address: str, timeout: float) -> None:
    """Fails fast, in one line, when nothing answers at a ``ray://HOST:PORT`` address.

    Ray's client otherwise keeps retrying for minutes before it gives up.
    """
    parsed = urllib.parse.urlparse(address)
    host, port = parsed.hostname, parsed.port or 10001
    if not host:
        raise VidmemError(f"--cluster {address}: expected ray://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise VidmemError(
            f"the Ray cluster at {address} does not answer ({exc.strerror or type(exc).__name__} "
            f"within {timeout:g} s); check the address and that its head node runs the client server"
        ) from None
