"""Small iterator helpers of the ingest pipeline: fixed-size groups, and a background prefetcher."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator


def batched(items: Iterable, n: int) -> Iterator[list]:
    """``items`` in lists of ``n`` (the last may be shorter)."""
    it = iter(items)
    while group := list(itertools.islice(it, n)):
        yield group


_END = object()


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Runs ``items`` in a background thread ``depth`` ahead, so decoding overlaps encoding."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
            thread.join(timeout=0.05)
