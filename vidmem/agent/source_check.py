"""A second look at an image query's best candidates in the source video, when it is still on disk.

The store keeps 96 ORB corners of one frame per 2 s clip (``vidmem.agent.image_search``). Two kinds
of query defeat that alone: a soft frame (a defocused street behind a cyclist) cropped to 70 % keeps
too few of the 96 corners to verify, and in fast footage (a head-mounted camera) the stored frame is
a second from the query's and shares no corner with it, while a frame of the same room a few
seconds on does. The video the store was built from is usually still there: decoding the candidate
stretches at ``FPS`` and matching densely (``DENSE``: 400 corners a side at 480 px) finds the
query's own moment. Among frames that match about as well (a still shot: its background matches
at every instant) the one whose pixels agree best once the query is placed on it wins (normalised
cross-correlation of the equalised greys): only the right instant has the moving parts where the
query shows them.

A source is used only when its file exists and still has the fingerprint it was indexed with;
otherwise, or when decoding fails, the stored features' answer stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.local_features import LocalFeatureConfig, LocalFeatures

log = logging.getLogger(__name__)

DENSE = LocalFeatureConfig(width=480, stored=400, query=400)
"""Both sides described alike: a source frame is as detailed as the query."""
FPS = 2.0
"""Source frames decoded per second of a candidate stretch (a query is at most 0.25 s from one)."""
MIN_INLIERS = 15
"""Dense inliers for a source frame to count (look-alike footage of other videos reaches ~10)."""
TIE_FRACTION = 0.75
"""Frames with at least this share of the best frame's inliers are told apart by their pixels."""
MAX_SPAN_SECONDS = 24.0
"""Seconds of video decoded for one query at most."""


@dataclass
class SourceMatch:
    """The best source frame for a query: its source id, time (s), dense inliers and pixel agreement."""

    source_id: int
    t: float
    inliers: int
    agreement: float


class SourceCheck:
    """Matches an image query against frames decoded from the store's source videos.

    Args:
        sources: ``{source id: (path, fingerprint)}`` of the store's sources.
    """

    def __init__(self, sources: dict[int, tuple[str, str]]) -> None:
        self._sources = sources
        self._usable: dict[int, bool] = {}
        self.features = LocalFeatures(DENSE)

    def usable(self, source_id: int) -> bool:
        """Whether the source's file is on disk and unchanged since it was indexed (checked once)."""
        if source_id not in self._usable:
            from vidmem.ingest import fingerprint

            path, expected = self._sources.get(source_id, ("", ""))
            try:
                self._usable[source_id] = bool(path) and Path(path).is_file() and fingerprint(Path(path)) == expected
            except OSError:
                self._usable[source_id] = False
        return self._usable[source_id]

    def best(self, image: np.ndarray, spans: list[tuple[int, float, float]]) -> SourceMatch | None:
        """The source frame that matches ``image`` best among ``spans`` ``(source id, t0, t1)``, or None.

        Spans are merged per source, capped at ``MAX_SPAN_SECONDS`` in all (earlier spans first: pass
        the likeliest first), and decoded at ``FPS``.
        """
        import cv2

        query_gray = self.features.prepare(image)
        query = self.features.describe_prepared(query_gray, DENSE.query)
        if len(query[1]) < 4:
            return None
        found: list[SourceMatch] = []
        for source_id, t0, t1 in _merge([s for s in spans if self.usable(s[0])], MAX_SPAN_SECONDS):
            for t, frame in self._frames(source_id, t0, t1):
                gray = self.features.prepare(frame)
                inliers, model = self.features.placement(query, self.features.describe_prepared(gray))
                if inliers >= MIN_INLIERS and model is not None:
                    found.append(SourceMatch(source_id, t, inliers, _agreement(cv2, query_gray, gray, model)))
        if not found:
            return None
        top = max(m.inliers for m in found)
        return max((m for m in found if m.inliers >= TIE_FRACTION * top), key=lambda m: m.agreement)

    def _frames(self, source_id: int, t0: float, t1: float):
        from vidmem.errors import VidmemError
        from vidmem.io import sample_frames

        path = self._sources[source_id][0]
        try:
            for f in sample_frames(path, fps=FPS, start=max(0.0, t0), max_side=640):
                if f.t > t1:
                    break
                yield f.t, f.image
        except VidmemError as e:  # the stored features' answer stands
            log.warning("image search: could not read %s again (%s); answering from the store alone", path, e)
            self._usable[source_id] = False


def _merge(spans: list[tuple[int, float, float]], budget: float) -> list[tuple[int, float, float]]:
    """Overlapping spans of one source joined, at most ``budget`` seconds kept (in the given order)."""
    kept: list[tuple[int, float, float]] = []
    total = 0.0
    for sid, t0, t1 in spans:
        if total + (t1 - t0) > budget:
            break
        kept.append((sid, t0, t1))
        total += t1 - t0
    kept.sort()
    merged: list[tuple[int, float, float]] = []
    for sid, t0, t1 in kept:
        if merged and merged[-1][0] == sid and t0 <= merged[-1][2]:
            merged[-1] = (sid, merged[-1][1], max(merged[-1][2], t1))
        else:
            merged.append((sid, t0, t1))
    return merged


def _agreement(cv2, query_gray: np.ndarray, gray: np.ndarray, model: np.ndarray) -> float:
    """Correlation of the query, placed on the frame by ``model``, with the frame where they overlap."""
    h, w = gray.shape
    placed = cv2.warpAffine(query_gray, model, (w, h), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.full(query_gray.shape, 255, np.uint8), model, (w, h), flags=cv2.INTER_NEAREST)
    mask = cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0
    if mask.sum() < 64:
        return -1.0
    a = placed[mask].astype(np.float32)
    b = gray[mask].astype(np.float32)
    a -= a.mean()
    b -= b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else -1.0
