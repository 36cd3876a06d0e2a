"""``webcam``'s live session: one source at a time written to the store by a background thread.

The server keeps running whatever the source does: a camera that cannot be opened, a stream that
drops or a file that ends leaves the session ``error`` or ``ended`` with a message for the page,
and the memory written so far stays served. Switching source (the page's camera button) stops the
current ingest at its last committed clip and starts the new one in the same store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vidmem.live_ingest import LiveConfig, LiveStats, ingest_live

log = logging.getLogger("vidmem.web.live")


class LiveSession:
    """A live source feeding one store.

    Args:
        store: the store directory (created on the first commit; continued when it exists).
        config: sampling and memory settings.
        loop: replay a file source when it ends.
        realtime: play a file source at its own speed.
    """

    def __init__(self, store: str | Path, config: LiveConfig, loop: bool = False, realtime: bool = True) -> None:
        self.store = str(store)
        self.config = config
        self.loop = loop
        self.realtime = realtime
        self.source = ""
        self.state = "idle"
        self.error = ""
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._tap: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, source: str) -> None:
        """Starts ingesting ``source`` in the background (stopping the current one first)."""
        from vidmem.io.live import LiveSource
        from vidmem.web.captures import Tap, open_capture

        with self._lock:
            self._halt()
            self.source, self.error, self.stats, self._tap = source, "", LiveStats(), None
            self._stop = threading.Event()
            try:
                self._tap = Tap(open_capture(source, self.loop, self.realtime, self._stop), self._stop)
                live = LiveSource(_name(source), capture=self._tap)
            except Exception as exc:  # noqa: BLE001 - reported on the page; the server keeps serving
                self._fail(exc)
                return
            self.state = "running"
            self._thread = threading.Thread(target=self._work, args=(live, self._stop), name="live-ingest", daemon=True)
            self._thread.start()

    def _work(self, live, stop: threading.Event) -> None:
        try:
            with live:
                ingest_live(live, self.store, self.config, self.stats)
            if self.state == "running" and not stop.is_set():
                self.state = "ended"
                log.info("live source %s ended; the memory stays served", self.source)
        except Exception as exc:  # noqa: BLE001 - same: reported, and the memory written so far is kept
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.state = "error"
        self.error = " ".join(str(exc).split()) or type(exc).__name__
        log.warning("live source %s: %s", self.source, self.error)

    def push_jpeg(self, data: bytes) -> None:
        """A frame from the browser's camera (JPEG/PNG bytes), checked before decoding.

        Raises:
            ImageInputError: not an image, or too large.
            VideoError: the session's source is not the browser.
        """
        from vidmem.errors import VideoError
        from vidmem.images import ImageLimits, decode_image
        from vidmem.web.captures import PushedFrames

        tap = self._tap
        if tap is None or not isinstance(tap.inner, PushedFrames) or self.state != "running":
            raise VideoError("the server is not reading the browser's camera (start webcam with --source browser)")
        rgb = decode_image(data, "camera frame", ImageLimits(max_pixels=4_000_000, max_side=4096, max_bytes=4 << 20))
        tap.inner.push(np.ascontiguousarray(rgb[:, :, ::-1]))

    def latest_jpeg(self) -> bytes | None:
        """The latest frame read, as JPEG, or None before the first."""
        import cv2

        image = self._tap.latest if self._tap is not None else None
        if image is None:
            return None
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return buf.tobytes() if ok else None

    def status(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "source": self.source, "state": self.state, "error": self.error, "frames": stats.frames,
            "frames_read": self._tap.frames if self._tap is not None else 0, "clips": stats.clips,
            "stream_time": round(stats.stream_time, 2), "frames_per_s": round(stats.frames_per_s(), 2),
            "memory_bytes": _disk_bytes(self.store), "rss_bytes": _rss_bytes(), "send_fps": 5,
        }  # fmt: skip

    def stop(self) -> None:
        """Ends the source at its last committed clip and waits for the ingest to finish."""
        with self._lock:
            self._halt()
            if self.state == "running":
                self.state = "stopped"

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None


def _name(source: str) -> str:
    """How a source is named in the store: a file by its absolute path, others as given."""
    return os.path.abspath(source) if os.path.isfile(source) else source


def _disk_bytes(root: str) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):  # a file replaced while we walk
                total += os.stat(os.path.join(folder, f)).st_size
    return total


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
