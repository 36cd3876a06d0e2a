"""One writer per source: an advisory file lock per video in the store's ``locks/`` folder.

``flock`` locks belong to the open file, so the kernel drops them when their process dies,
``kill -9`` included: a stale lock is simply free and the next ingest takes it over, resuming
from the last checkpoint. The file keeps the holder's pid, host and start time only to name it
in the error a second writer gets. Different videos use different files, so they still index
into one store at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from vidmem.errors import StoreError

LOCKS_DIR = "locks"


class SourceBusyError(StoreError):
    """Another process is writing the same source into the same store."""


@contextlib.contextmanager
def source_lock(store_root: Path, key: str, label: str) -> Iterator[None]:
    """Holds the write lock of one source (``key``: its fingerprint) for the ``with`` block.

    Args:
        store_root: the store directory.
        key: the source's identity (a hex fingerprint), used as the lock file's name.
        label: the source as the user named it, for the error message.

    Raises:
        SourceBusyError: another live process holds the lock; the message names it.
    """
    folder = Path(store_root) / LOCKS_DIR
    try:
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot lock {label} in {store_root}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SourceBusyError(
                f"{label} is already being indexed into {store_root} by {_holder(fd)}; "
                "wait for it to finish (or stop it), then run this again to resume"
            ) from None
        _write_holder(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_holder(fd: int) -> None:
    info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, info, 0)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
        return f"process {int(info['pid'])} on {info['host']} (since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
