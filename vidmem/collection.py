"""Collections: index many videos into one store, in parallel processes or as Ray tasks.

Inputs are video files, folders (searched recursively for video files) and ``@list.txt`` files
(one path or URL per line, ``#`` comments). Each video is indexed by :func:`vidmem.ingest.index_video`:

- one worker: straight into the store, one video after another (resumes inside a video);
- ``workers > 1``: each worker process indexes its video into its own shard store under
  ``STORE/shards/<fingerprint>/`` (resumable there); the driver, the store's one writer, imports a
  finished shard in one transaction (``vidmem.storage.shards``) and deletes it;
- ``cluster="ray"`` / ``"ray://ADDRESS"``: the same work as Ray tasks (``vidmem.ray_runner``).

A run killed at any point resumes: complete videos are skipped, a half-indexed one continues from
its last checkpoint (in the store, or in its shard). A video that cannot be read is reported by
name with the reason and skipped; a worker process that dies is retried once, then reported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vidmem.errors import VidmemError
from vidmem.ingest import IngestConfig, fingerprint, index_video
from vidmem.storage.store import MemoryStore

VIDEO_SUFFIXES = frozenset(".mp4 .m4v .mkv .mov .avi .webm .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .ogv".split())
"""File endings a folder search takes as videos (case-insensitive)."""

SHARDS_DIR = "shards"
DOWNLOADS_DIR = "downloads"
FAILURES_KEY = "collection_failures"
"""Store meta: ``{path: reason}`` of videos the last runs could not index (``info`` lists them)."""

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class CollectionConfig:
    """How a collection is run.

    Attributes:
        workers: local processes indexing videos at once (1: in this process, one after another).
        cluster: None, ``"ray"`` (a local Ray cluster started for the run, or the one already
            initialised) or ``"ray://HOST:PORT"`` (a running cluster's client address).
        retries: times a video whose worker died is tried again before it is reported.
        connect_timeout: seconds to wait for a Ray address to answer.
    """

    workers: int = 1
    cluster: str | None = None
    retries: int = 1
    connect_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.cluster is not None and self.cluster != "ray" and not self.cluster.startswith("ray://"):
            raise ValueError(f"--cluster must be 'ray' or 'ray://HOST:PORT', got {self.cluster!r}")
        if self.retries < 0 or self.connect_timeout <= 0:
            raise ValueError("retries must be >= 0 and connect_timeout > 0")


@dataclass
class VideoResult:
    """One video's outcome: ``indexed``, ``resumed``, ``already indexed`` or ``failed``."""

    video: str
    status: str
    reason: str = ""
    hours: float = 0.0
    clips: int = 0


@dataclass
class CollectionReport:
    """What a collection run did (``index --json`` for several videos)."""

    store: str
    workers: int
    cluster: str | None
    results: list[VideoResult] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def hours_indexed(self) -> float:
        return sum(r.hours for r in self.results if r.status in ("indexed", "resumed"))

    def to_json(self) -> dict[str, Any]:
        failed = [{"video": r.video, "reason": r.reason} for r in self.results if r.status == "failed"]
        minutes = max(self.seconds, 1e-9) / 60
        return {
            "store": self.store, "workers": self.workers, "cluster": self.cluster, "videos": len(self.results),
            "counts": self.counts(), "failed": len(failed), "failures": failed,
            "hours_indexed": round(self.hours_indexed, 4), "seconds": round(self.seconds, 3),
            "hours_per_minute": round(self.hours_indexed / minutes, 4),
            "results": [asdict(r) for r in self.results],
        }  # fmt: skip


def expand_inputs(items: Sequence[str]) -> tuple[list[Path], list[VideoResult]]:
    """Video files named by ``items`` (files, folders, ``@list.txt``), in order, without repeats.

    Returns:
        ``(videos, failures)``: what is missing or unreadable is a failure, not an error, so the
        rest of a long list still runs.
    """
    videos: list[Path] = []
    failures: list[VideoResult] = []
    for item in items:
        if item.startswith("@"):
            listed, bad = _read_list(Path(item[1:]))
            videos += listed
            failures += bad
        elif Path(item).is_dir():
            videos += sorted(p for p in Path(item).rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif Path(item).is_file():
            videos.append(Path(item))
        else:
            failures.append(VideoResult(item, "failed", "not found"))
    seen: set[Path] = set()
    unique = []
    for v in videos:
        if v.resolve() not in seen:
            seen.add(v.resolve())
            unique.append(v)
    return unique, failures


def _read_list(list_file: Path) -> tuple[list[Path], list[VideoResult]]:
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise VidmemError(f"cannot read the list {list_file}: {getattr(exc, 'strerror', None) or exc}") from None
    videos, failures = [], []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if "://" in entry:
            try:
                videos.append(download(entry, downloads_folder()))
            except (OSError, ValueError) as exc:
                failures.append(VideoResult(entry, "failed", f"cannot download: {exc}"))
            continue
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else list_file.parent / path  # relative to the list, like a playlist
        if path.is_file():
            videos.append(path)
        else:
            failures.append(VideoResult(entry, "failed", "not found" if not path.exists() else "not a file"))
    return videos, failures


def downloads_folder() -> Path:
    """Where listed URLs are fetched: ``$VIDMEM_HOME/downloads`` (default ``~/.cache/vidmem/downloads``).

    Not inside the store: a new store's directory must be empty when it is created.
    """
    return Path(os.environ.get("VIDMEM_HOME", Path.home() / ".cache" / "vidmem")) / DOWNLOADS_DIR


def download(url: str, folder: Path, timeout: float = 30.0) -> Path:
    """Fetches ``url`` (http, https, file) once into ``folder``; a finished download is reused."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    name = Path(urllib.parse.urlparse(url).path).name or "video"
    target = folder / f"{hashlib.sha1(url.encode()).hexdigest()[:12]}-{name}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    tmp.replace(target)
    return target


def index_collection(
    items: Sequence[str], store_dir: str | Path, config: IngestConfig | None = None,
    run: CollectionConfig | None = None, reindex: bool = False, progress: Callable[[str], None] | None = None,
    encode: Callable | None = None,
) -> CollectionReport:  # fmt: skip
    """Indexes every video named by ``items`` into one store.

    Args:
        items: video files, folders and ``@list.txt`` files.
        store_dir: the store (created when missing).
        config: ingest settings, the same for every video.
        run: workers and cluster.
        reindex: rebuild videos already in the store.
        progress: called with one line per finished video (videos done, hours, rate).
        encode: the worker function, for tests to swap: ``(video, shard_dir, config) -> shard_dir``
            for local workers (default ``encode_to_shard``), ``(video, config) -> SourceRecords``
            for Ray (default ``vidmem.ray_runner.encode_records``).
    """
    config = config or IngestConfig()
    run = run or CollectionConfig()
    started = time.perf_counter()
    if run.cluster is not None and run.cluster.startswith("ray://"):
        from vidmem.ray_runner import check_reachable

        check_reachable(run.cluster, run.connect_timeout)  # before anything is created
    videos, failures = expand_inputs(items)
    readable = _probe_all(videos, config, failures)
    if not readable:  # nothing to do: an error, and the store is not touched
        raise VidmemError(_nothing_readable(items, failures))
    report = CollectionReport(str(Path(store_dir)), run.workers, run.cluster, list(failures))
    tracker = _Progress(report, len(readable) + len(failures), started, progress)
    with MemoryStore(store_dir, create=True) as store:
        todo = _plan(store, readable, config, reindex, tracker)
        if run.cluster is not None:
            from vidmem.ray_runner import run_on_ray

            run_on_ray(store, todo, config, run, reindex, tracker, encode)
        elif run.workers == 1:
            _run_here(store, todo, config, reindex, tracker)
        else:
            _run_pool(store, todo, config, run, reindex, tracker, encode or encode_to_shard)
        _finish(store, report)
    report.seconds = time.perf_counter() - started
    return report


def _probe_all(videos: list[Path], config: IngestConfig, failures: list[VideoResult]) -> list[Path]:
    """The videos that open and decode; the others join ``failures`` with the decoder's reason."""
    from vidmem.io import probe_video

    readable = []
    for video in videos:
        try:
            probe_video(str(video), backend=config.backend)
        except VidmemError as exc:
            failures.append(VideoResult(str(video), "failed", _reason(exc)))
            continue
        readable.append(video)
    return readable


def _nothing_readable(items: Sequence[str], failures: list[VideoResult]) -> str:
    where = f"directory {items[0]}" if len(items) == 1 and Path(items[0]).is_dir() else " ".join(items)
    if not failures:
        return f"no video files in {where} (looked for {', '.join(sorted(VIDEO_SUFFIXES))})"
    shown = "; ".join(f"{Path(f.video).name}: {f.reason}" for f in failures[:3])
    more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
    return f"no readable video in {where} ({len(failures)} failed: {shown}{more})"


class _Progress:
    """Collects results and prints ``[done/total] hours, rate`` lines."""

    def __init__(self, report: CollectionReport, total: int, started: float, out: Callable[[str], None] | None):
        self.report, self.total, self.started, self.out = report, total, started, out

    def add(self, result: VideoResult) -> None:
        self.report.results.append(result)
        if self.out is None:
            return
        minutes = (time.perf_counter() - self.started) / 60
        hours = self.report.hours_indexed
        why = f": {result.reason}" if result.reason else ""
        self.out(
            f"[{len(self.report.results)}/{self.total} videos, {hours:.2f} h of video, "
            f"{hours / max(minutes, 1e-9):.2f} h/min] {result.status} {Path(result.video).name}{why}"
        )


def _plan(store: MemoryStore, videos: list[Path], config: IngestConfig, reindex: bool, tracker: _Progress) -> list:
    """Videos still to index as ``(path, fingerprint)``; complete ones are reported and skipped."""
    wanted = _comparable(config.settings(""))
    todo = []
    for video in videos:
        try:
            identity = fingerprint(video)
        except OSError as exc:
            tracker.add(VideoResult(str(video), "failed", f"cannot read: {exc.strerror or exc}"))
            continue
        src = store.find_source(identity)
        if src is not None and src.status == "complete" and not reindex:
            if _comparable(src.settings) != wanted:
                reason = "already in the store with other settings; pass --reindex to rebuild it"
                tracker.add(VideoResult(str(video), "failed", reason))
            else:
                hours = (src.duration or 0.0) / 3600
                tracker.add(VideoResult(str(video), "already indexed", hours=hours, clips=src.next_clip))
            continue
        todo.append((video, identity))
    return todo


def _comparable(settings: dict) -> dict:
    """Settings without the encoder id (the store's encoder is checked when a video is written)."""
    import json

    return {k: v for k, v in json.loads(json.dumps(settings)).items() if k != "encoder"}


def _run_here(store: MemoryStore, todo: list, config: IngestConfig, reindex: bool, tracker: _Progress) -> None:
    for video, identity in todo:
        try:
            ingest = index_video(video, store.root, config, reindex=reindex, build_indexes=False)  # once, in _finish
        except Exception as exc:  # reported by name; the other videos go on
            tracker.add(VideoResult(str(video), "failed", _reason(exc)))
            continue
        tracker.add(_indexed(store, video, identity, ingest.status))


def encode_to_shard(video: str, shard_dir: str, config: IngestConfig) -> str:
    """Worker: indexes one video into its own shard store (resuming a shard left by a killed run).

    The shard's vector indexes are not built: the shard is exported, never searched.
    """
    index_video(video, shard_dir, config, build_indexes=False)
    return shard_dir


def _run_pool(
    store: MemoryStore, todo: list, config: IngestConfig, run: CollectionConfig, reindex: bool, tracker: _Progress,
    encode: Callable,
) -> None:  # fmt: skip
    """At most ``run.workers`` videos in flight.

    When a worker process dies the pool breaks and every video in flight fails with it, so those
    videos are run again one at a time: a death there is the video's own, and is retried once.
    """
    import multiprocessing

    for var in THREAD_VARS:  # inherited by the workers: N busy processes, one thread each
        os.environ.setdefault(var, "1")
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads and SQLite
    queue, alone = list(todo), []
    deaths: dict[str, int] = {}
    while queue or alone:
        workers = 1 if alone else run.workers
        batch = alone if alone else queue
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=die_with_driver, initargs=(os.getpid(),)
        ) as pool:
            running: dict = {}
            while batch or running:
                if not _submit(pool, batch, running, workers, encode, store, config, reindex):
                    alone += list(running.values())  # broke between two waits: nothing in flight survives
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                died = [running[f] for f in done if _died(f)]
                for fut in done:
                    if not _died(fut):
                        _collect(store, fut, *running[fut], tracker, reindex)
                    del running[fut]
                if not died:
                    continue
                if workers == 1:  # alone: this video killed its worker
                    video, identity = died[0]
                    deaths[identity] = deaths.get(identity, 0) + 1
                    if deaths[identity] > run.retries:
                        reason = f"worker process died ({deaths[identity]} tries)"
                        tracker.add(VideoResult(str(video), "failed", reason))
                    else:
                        alone.append((video, identity))
                else:  # the pool is gone: whatever was in flight is run again, one at a time
                    alone += died + list(running.values())
                break


def die_with_driver(driver_pid: int) -> None:
    """Pool worker initializer: the kernel kills this worker when its driver dies (Linux).

    Without it a driver killed alone (SIGKILL, OOM killer) leaves its workers indexing their
    current video for nobody. ``PR_SET_PDEATHSIG`` fires when the thread that started the worker
    ends; the pool starts its workers from the driver's main thread, so that is the driver's exit.
    Elsewhere (no prctl) it does nothing, and workers finish their video as before.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no libc symbol: keep the old behaviour rather than fail the run
        return
    if os.getppid() != driver_pid:  # the driver died before prctl took effect: no signal will come
        os._exit(1)


def _submit(pool, batch: list, running: dict, workers: int, encode, store, config, reindex: bool) -> bool:
    """Fills the pool up to ``workers`` videos in flight; False when the pool is already broken."""
    while batch and len(running) < workers:
        video, identity = batch[0]
        try:
            fut = pool.submit(encode, str(video), str(_shard(store, identity, reindex)), config)
        except BrokenProcessPool:
            return False
        running[fut] = batch.pop(0)
    return True


def _shard(store: MemoryStore, identity: str, reindex: bool) -> Path:
    shard = store.root / SHARDS_DIR / identity
    if reindex and shard.exists():
        shutil.rmtree(shard)
    return shard


def _died(fut) -> bool:
    return isinstance(fut.exception(), BrokenProcessPool)


def _collect(store: MemoryStore, fut, video: Path, identity: str, tracker: _Progress, reindex: bool) -> None:
    """Merges a finished worker's shard, or reports the video with the worker's error."""
    try:
        shard = Path(fut.result())
    except Exception as exc:
        tracker.add(VideoResult(str(video), "failed", _reason(exc)))
        return
    try:
        merge_shard(store, shard, identity, replace=reindex)
    except Exception as exc:
        tracker.add(VideoResult(str(video), "failed", f"cannot merge its shard: {_reason(exc)}"))
        return
    tracker.add(_indexed(store, video, identity, "indexed"))


def merge_shard(store: MemoryStore, shard: Path, identity: str, replace: bool = False) -> int:
    """Imports a finished shard into ``store`` and deletes it; returns the store's source id.

    ``replace`` rebuilds a video the store already holds complete (``--reindex``).
    """
    from vidmem.storage.shards import export_source, import_source

    with MemoryStore(shard, read_only=True) as part:
        records = export_source(part, identity)
    source_id = import_source(store, records, replace)
    shutil.rmtree(shard, ignore_errors=True)  # after the commit: a kill before this only leaves a copy
    return source_id


def _indexed(store: MemoryStore, video: Path, identity: str, status: str) -> VideoResult:
    src = store.find_source(identity)
    hours = (src.duration or 0.0) / 3600 if src else 0.0
    return VideoResult(str(video), status, hours=hours, clips=src.next_clip if src else 0)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _finish(store: MemoryStore, report: CollectionReport) -> None:
    """Records failures for ``info``, forgets ones now indexed, clears empty shard folders, builds indexes."""
    failures = dict(store.get_meta(FAILURES_KEY, {}) or {})
    for r in report.results:
        key = str(Path(r.video).resolve()) if "://" not in r.video else r.video
        if r.status == "failed":
            failures[key] = r.reason
        else:
            failures.pop(key, None)
    with store.transaction():
        store.set_meta(FAILURES_KEY, failures)
    shards = store.root / SHARDS_DIR
    if shards.is_dir() and not any(shards.iterdir()):
        shards.rmdir()
    store.refresh_indexes()
    for store_name, scale, _ in store.groups():
        store.index(f"{store_name}@{scale}" if scale else store_name)
    store.index("text-space")


def print_progress(line: str) -> None:
    """Default progress sink: one line per video on stderr."""
    print(line, file=sys.stderr, flush=True)
