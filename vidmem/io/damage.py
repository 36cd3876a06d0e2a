"""Finding stretches of a video lost to corrupt data, and warning about them once.

FFmpeg recovers from corrupt data in different ways: the MPEG-TS demuxer flags a packet and resyncs
seconds later, the Matroska demuxer skips garbage silently and the decoder then rejects a packet,
an MP4 with an intact index hands garbage packets to the decoder, which fails on each. What they
have in common is a jump in the frame timestamps near an error. ``DamageTracker`` watches the
timestamps of good frames and the errors between them and reports such jumps as lost stretches.
"""

from __future__ import annotations

import statistics
import warnings
from collections import deque
from collections.abc import Callable

from vidmem.errors import VideoWarning

ERROR_LAG_FRAMES = 16  # frame threads report a decode error a few frames after the damage
GAP_FACTOR = 1.5  # an interval this many times the typical one is a gap
SILENT_GAP_SECONDS = 1.0  # in a constant-rate stream a gap this long is lost data even without an error


class DamageReporter:
    """Warns once per damaged stretch of one source (overlapping reports are merged).

    Args:
        source: the file or URL, named in every warning.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.ranges: list[tuple[float, float]] = []

    def __call__(self, t0: float, t1: float, kind: str) -> None:
        """Report damage from ``t0`` to ``t1`` seconds; ``kind`` is ``lost``, ``errors`` or ``end``."""
        if any(a - 1e-3 <= t1 and t0 <= b + 1e-3 for a, b in self.ranges):
            return
        self.ranges.append((t0, t1))
        if kind == "lost":
            message = f"{self.source}: skipped unreadable data from {t0:.2f} s to {t1:.2f} s"
        elif kind == "end":
            message = f"{self.source}: the data after {t0:.2f} s is damaged and was dropped"
        else:
            message = f"{self.source}: decoding errors near {t0:.2f} s, damaged frames were dropped"
        warnings.warn(message, VideoWarning, stacklevel=4)

    def warn(self, message: str) -> None:
        """Warn about something else that went wrong with this source (one line)."""
        warnings.warn(f"{self.source}: {message}", VideoWarning, stacklevel=4)


class DamageTracker:
    """Watches frame times and errors of one decoding pass and reports lost stretches.

    Args:
        report: called as ``report(t0, t1, kind)`` for each damaged stretch found.
        nominal_interval: expected seconds between frames (1 / fps), used until enough frames
            have been seen; 0 when unknown.
    """

    def __init__(self, report: Callable[[float, float, str], None], nominal_interval: float = 0.0) -> None:
        self._report = report
        self._nominal = nominal_interval
        self._intervals: deque[float] = deque(maxlen=32)
        self._count = 0
        self._prev: float | None = None
        self._pending: tuple[int, float | None] | None = None  # (frame count, time) of an unmatched error
        self._candidate: tuple[float, float, int] | None = None  # (t0, t1, frame count) of an unmatched gap

    @property
    def typical_interval(self) -> float:
        """Median seconds between recent frames (the nominal interval until three are seen)."""
        if len(self._intervals) >= 3:
            return statistics.median(self._intervals)
        if self._nominal > 0:
            return self._nominal
        return statistics.median(self._intervals) if self._intervals else 0.0

    def error(self, t: float | None = None) -> None:
        """Note a demux or decode error (or a corrupt packet or frame) at time ``t``, if known."""
        candidate = self._candidate
        if candidate is not None and self._count - candidate[2] <= ERROR_LAG_FRAMES:
            self._report(candidate[0], candidate[1], "lost")
            self._candidate = None
        elif self._pending is None:
            self._pending = (self._count, t if t is not None else self._prev)

    def frame(self, t: float) -> bool:
        """Note a good frame at time ``t`` (increasing).

        Returns:
            True when the gap before this frame was judged lost data (so sampling times inside it
            should be skipped rather than filled with the frame before the gap).
        """
        self._count += 1
        lost = False
        if self._prev is None:
            if self._pending is not None:
                self._report(self._pending[1] or 0.0, t, "lost")
                self._pending = None
        else:
            lost = self._judge_gap(self._prev, t)
        if self._pending is not None and self._count - self._pending[0] > ERROR_LAG_FRAMES:
            at = self._pending[1] if self._pending[1] is not None else t
            self._report(at, at, "errors")
            self._pending = None
        self._prev = t
        return lost

    def _judge_gap(self, prev: float, t: float) -> bool:
        gap = t - prev
        typical = self.typical_interval
        if typical <= 0 or gap <= GAP_FACTOR * typical + 1e-6:
            self._intervals.append(gap)
            return False
        if self._pending is not None and self._count - self._pending[0] <= ERROR_LAG_FRAMES:
            self._pending = None
            self._report(prev, t, "lost")
            return True
        if self._is_regular() and gap > max(SILENT_GAP_SECONDS, 5 * typical):
            self._report(prev, t, "lost")
            return True
        self._candidate = (prev, t, self._count)
        return False

    def _is_regular(self) -> bool:
        """True when recent intervals are nearly all equal (a constant-rate stream)."""
        if len(self._intervals) < 8:
            return False
        median = statistics.median(self._intervals)
        close = sum(abs(x - median) <= 0.02 * median + 1e-6 for x in self._intervals)
        return close >= 0.9 * len(self._intervals)

    def finish(self) -> None:
        """End of the pass: an error not yet matched to a gap is reported as damage at the end."""
        if self._pending is not None:
            at = self._pending[1] if self._pending[1] is not None else (self._prev or 0.0)
            self._report(at, self._prev if self._prev is not None else at, "end")
            self._pending = None
