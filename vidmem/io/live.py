"""Live sources (webcams, RTSP/HTTP streams) read through OpenCV and timed as they arrive.

A frame's time comes from the stream (``CAP_PROP_POS_MSEC``) while that clock is sane: finite,
not negative and increasing. A frame whose stream time is not sane gets the previous frame's time
plus the wall-clock time since it; after three such frames in a row the stream clock is given up
and the wall clock is used from then on. Times start at 0 with the first frame.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vidmem.errors import VideoError
from vidmem.io.sources import VideoInfo

_STALLS_BEFORE_WALL_CLOCK = 3


class LiveSource:
    """A camera or stream read frame by frame with OpenCV.

    Args:
        source: a webcam index (``0`` or ``"0"``), a URL, or a file path (read like a stream).
        capture: an already open ``cv2.VideoCapture`` or any object with ``read()``, ``get(prop)``,
            ``isOpened()`` and ``release()`` (tests pass a fake camera).
        clock: seconds, monotonic; used when the stream's own clock is not sane.

    Raises:
        VideoError: the source cannot be opened.
    """

    def __init__(
        self,
        source: int | str | os.PathLike[str],
        capture: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import cv2

        self.name = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
        self._cv2 = cv2
        self._clock = clock
        self._cap = capture if capture is not None else _open_capture(source)
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoError(f"cannot open live source {self.name}")
        self._last_t: float | None = None
        self._last_wall = 0.0
        self._msec0: float | None = None
        self._last_msec = -math.inf
        self._stalls = 0
        self._wall_clock_only = False

    def info(self) -> VideoInfo:
        """What OpenCV says about the source (duration and frame count unknown)."""
        get = self._cap.get
        fps = float(get(self._cv2.CAP_PROP_FPS) or 0.0)
        return VideoInfo(
            path=self.name,
            duration=None,
            fps=fps if 0 < fps < 1000 else 0.0,
            width=int(get(self._cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(get(self._cv2.CAP_PROP_FRAME_HEIGHT) or 0),
            n_frames=None,
            backend="opencv",
        )

    def read(self) -> tuple[float, np.ndarray] | None:
        """The next frame and its time, or None when the stream has ended.

        Returns:
            ``(t, image)``: seconds since the first frame and ``uint8 [H,W,3]`` **BGR** (as OpenCV
            gives it; the sampler converts only the frames it keeps).
        """
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        return self._timestamp(), image

    def _timestamp(self) -> float:
        now = self._clock()
        stream_t = None if self._wall_clock_only else self._stream_time()
        if stream_t is not None:
            self._stalls = 0
            t = stream_t
        else:
            self._stalls += 1
            if self._stalls >= _STALLS_BEFORE_WALL_CLOCK:
                self._wall_clock_only = True
            t = 0.0 if self._last_t is None else self._last_t + max(now - self._last_wall, 0.0)
        self._last_t, self._last_wall = t, now
        return t

    def _stream_time(self) -> float | None:
        """Seconds from the stream's first frame, or None when ``CAP_PROP_POS_MSEC`` is not sane."""
        msec = float(self._cap.get(self._cv2.CAP_PROP_POS_MSEC))
        if not math.isfinite(msec) or msec < 0 or msec <= self._last_msec:
            return None
        self._last_msec = msec
        if self._msec0 is None:
            # The first sane value is time 0, unless frames before it were timed by the wall clock.
            self._msec0 = msec - 1000 * (self._last_t or 0.0)
        t = (msec - self._msec0) / 1000
        if self._last_t is not None and t <= self._last_t:
            return None
        return t

    def close(self) -> None:
        """Release the camera or stream."""
        self._cap.release()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_capture(source: int | str | os.PathLike[str]) -> Any:
    import cv2

    webcam = isinstance(source, str) and source.isdigit() and not os.path.exists(source)
    if isinstance(source, int) or webcam:
        return cv2.VideoCapture(int(source))
    return cv2.VideoCapture(os.fspath(source), cv2.CAP_FFMPEG)
