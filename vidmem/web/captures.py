"""Frame captures behind ``webcam``'s sources, all with OpenCV's ``VideoCapture`` interface.

``LiveSource`` reads any object with ``read()``, ``get(prop)``, ``isOpened()`` and ``release()``.
Here: a video file played at its own speed (optionally looping, times carrying on across loops),
frames pushed by a browser over a websocket, and a tap that keeps the latest frame for the page's
live view and ends the stream when asked to stop.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from typing import Any

import numpy as np

from vidmem.errors import VideoError

POS_MSEC = 0  # cv2.CAP_PROP_POS_MSEC


class RealtimeFile:
    """A video file read as if it were a live stream: frames come out at their own times.

    Args:
        path: the video file.
        loop: start again at the end; times keep increasing across loops.
        realtime: wait until each frame's time (False: as fast as it decodes).
        stop: set to end the stream (waits are cut short).
    """

    def __init__(self, path: str, loop: bool, realtime: bool, stop: threading.Event) -> None:
        import cv2

        self._cv2, self.path, self.loop, self.realtime, self.stop = cv2, path, loop, realtime, stop
        self._cap = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG)
        self._offset = 0.0  # ms of the loops played before this one
        self._pos = 0.0
        self._step = 1000 / 25
        self._t0 = time.monotonic()

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return bool(self._cap.isOpened())

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok, image = self._cap.read()
        if not ok and self.loop and self._pos > 0 and not self.stop.is_set():
            self._offset = self._pos + self._step  # the next loop starts one frame after this one's end
            self._cap.release()
            self._cap = self._cv2.VideoCapture(os.fspath(self.path), self._cv2.CAP_FFMPEG)
            ok, image = self._cap.read()
        if not ok or self.stop.is_set():
            return False, None
        pos = self._offset + max(float(self._cap.get(POS_MSEC)), 0.0)
        if pos > self._pos:
            self._step = min(pos - self._pos, 1000.0)
        self._pos = pos
        if self.realtime:
            self.stop.wait(max(0.0, self._t0 + pos / 1000 - time.monotonic()))
        return True, image

    def get(self, prop: int) -> float:
        return self._pos if prop == POS_MSEC else float(self._cap.get(prop))

    def release(self) -> None:
        self._cap.release()


class PushedFrames:
    """Frames pushed by another thread (the browser's camera over a websocket), timed on arrival.

    The queue is short and drops the oldest frame when full, so a slow encoder lags by at most a
    few frames and RAM stays bounded whatever the browser sends.
    """

    def __init__(self, stop: threading.Event, depth: int = 8) -> None:
        self.stop = stop
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._t0: float | None = None
        self._pos = 0.0

    def push(self, bgr: np.ndarray) -> None:
        """A new frame ``uint8 [H,W,3]`` BGR."""
        now = time.monotonic()
        while True:
            try:
                self._queue.put_nowait((now, bgr))
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        while not self.stop.is_set():  # a browser that went away is waited for: it may come back
            try:
                arrived, image = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if self._t0 is None:
                self._t0 = arrived
            self._pos = 1000 * (arrived - self._t0)
            return True, image
        return False, None

    def get(self, prop: int) -> float:
        return self._pos if prop == POS_MSEC else 0.0

    def release(self) -> None:
        self.stop.set()


class Tap:
    """Wraps a capture: counts frames, keeps the latest for the live view, ends on ``stop``."""

    def __init__(self, inner: Any, stop: threading.Event) -> None:
        self.inner, self.stop = inner, stop
        self.latest: np.ndarray | None = None
        self.frames = 0

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return bool(self.inner.isOpened())

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.stop.is_set():
            return False, None
        ok, image = self.inner.read()
        if ok and image is not None:
            self.latest = image
            self.frames += 1
        return ok, image

    def get(self, prop: int) -> float:
        return self.inner.get(prop)

    def release(self) -> None:
        self.inner.release()


def open_capture(source: str, loop: bool, realtime: bool, stop: threading.Event) -> Any:
    """The capture for a ``--source`` value: ``browser``, a video file, a camera index or a URL.

    Raises:
        VideoError: the camera, stream or file cannot be opened.
    """
    import cv2

    if source == "browser":
        capture: Any = PushedFrames(stop)
    elif os.path.isfile(source):
        capture = RealtimeFile(source, loop, realtime, stop)
    elif source.isdigit():
        capture = cv2.VideoCapture(int(source))
    elif "://" in source:
        capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    else:
        raise VideoError(f"no such file, camera index or stream URL: {source}")
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"cannot open {'camera' if source.isdigit() else 'source'} {source}")
    return capture
