"""Image queries verified geometrically: the clip whose stored frame shares a rigid set of corners wins.

The global descriptor ranks clips by how alike whole frames look, which a crop, a window border or
a heavy JPEG disturbs. Each clip keeps ORB keypoints of one frame (``vidmem.storage.local_features``);
a query's keypoints are matched against candidates and a RANSAC similarity counts the matches
that agree on one placement (inliers). Candidates come in two stages:

1. the clips the global descriptor ranks highest (cheap; enough for most queries);
2. when none of those reaches ``STRONG_INLIERS``, every stored keypoint votes (nearest neighbours
   of the query's descriptors over the whole store) and the most-voted frames are verified too.

The best verified frame (at least ``min_inliers``) names the clip that comes first in the answer.
Stores built before local features existed answer as before (global ranking only).
"""

from __future__ import annotations

import numpy as np

from encoders.local_features import LocalFeatureConfig, LocalFeatures
from vidmem.agent.reader import Hit
from vidmem.storage.local_features import FeatureRows, load_features
from vidmem.storage.store import MemoryStore

GLOBAL_CANDIDATES = 24
"""Clips of the global ranking verified in stage 1."""
VOTED_CANDIDATES = 16
"""Most-voted frames verified in stage 2."""
STRONG_INLIERS = 20
"""Stage 1 inliers that make stage 2 unnecessary (a look-alike frame rarely reaches 20 of 96)."""
VOTE_DISTANCE = 56
"""Hamming distance (of 256 bits) within which a stored keypoint votes for its frame."""
VOTE_NEIGHBOURS = 4
TIE_FRACTION = 0.75
"""Verified frames with at least this fraction of the best inlier count are ranked by the global cosine."""


class ImageVerifier:
    """Verifies image-query candidates against the store's local features.

    Args:
        store: an open store.
        config: local-feature settings (must match the ones used at ingest; the defaults do).
    """

    def __init__(self, store: MemoryStore, config: LocalFeatureConfig | None = None) -> None:
        self.store = store
        self._config = config
        self._features: LocalFeatures | None = None
        self._rows: FeatureRows | None = None
        self._loaded = False
        self._index = None
        self._source_ids: dict[str, int] = {}

    @property
    def features(self) -> LocalFeatures:
        """The ORB matcher, built on the first image query: it loads OpenCV (~0.1 s), which text questions skip."""
        if self._features is None:
            self._features = LocalFeatures(self._config)
        return self._features

    @property
    def rows(self) -> FeatureRows | None:
        if not self._loaded:
            self._rows = load_features(self.store.db)
            self._source_ids = {s.path: s.id for s in self.store.sources()}
            self._loaded = True
        return self._rows

    def verify(self, image: np.ndarray, ranked: list[Hit], window: tuple[float, float] | None) -> list[Hit]:
        """Clip hits confirmed by local features, most inliers first (empty when none is confirmed).

        Args:
            image: the query, ``uint8 [H,W,3]`` RGB.
            ranked: clip hits of the global ranking, best first.
            window: only frames inside ``(t_min, t_max)`` seconds count.
        """
        rows = self.rows
        if rows is None:
            return []
        query = self.features.describe(image, self.features.config.query)
        if len(query[1]) < 4:
            return []
        scores: dict[int, int] = {}
        for r in self._rows_of(ranked[:GLOBAL_CANDIDATES]):
            scores[r] = self.features.inliers(query, rows.row(r))
        if max(scores.values(), default=0) < STRONG_INLIERS:
            for r in self._voted(query[1], window):
                if r not in scores:
                    scores[r] = self.features.inliers(query, rows.row(r))
        found = sorted(
            (r for r, n in scores.items() if n >= self.features.config.min_inliers), key=lambda r: -scores[r]
        )
        return self._clip_hits(found, scores, ranked, window)

    def _break_ties(self, hits: list[Hit]) -> list[Hit]:
        """Near-equal geometric matches ordered by the global descriptor.

        A still shot stores the same corners in every clip it spans, so inlier counts a few apart
        do not tell its clips apart; the whole-frame cosine does (it saw the query's exact frame).
        Tied hits take the best one's score, in cosine order, so later merges keep that order.
        """
        if len(hits) < 2:
            return hits
        best = hits[0].score
        tied = [h for h in hits if geometric_inliers(h.score) >= TIE_FRACTION * geometric_inliers(best)]
        if len(tied) < 2:
            return hits
        rest = [h for h in hits if h not in tied]
        tied.sort(key=lambda h: -(h.cosine if h.cosine is not None else -2.0))
        step = 1e-6
        tied = [Hit(h.entry, best - i * step, h.via, h.cosine) for i, h in enumerate(tied)]
        return tied + rest

    def _rows_of(self, hits: list[Hit]) -> list[int]:
        """Feature rows (frames) inside the given clips."""
        rows = self.rows
        out: list[int] = []
        for h in hits:
            sid = self._source_ids.get(h.entry.source)
            if sid is None:
                continue
            inside = np.flatnonzero(
                (rows.source_id == sid) & (rows.t >= h.entry.t_start - 1e-6) & (rows.t <= h.entry.t_end + 1e-6)
            )
            out += [int(r) for r in inside if int(r) not in out]
        return out

    def _voted(self, descriptors: np.ndarray, window) -> list[int]:
        """Frames whose keypoints are nearest to most query keypoints (one vote per query keypoint and frame)."""
        rows = self.rows
        distances, neighbours = self._binary_index().search(descriptors, VOTE_NEIGHBOURS)
        owners = np.where(distances <= VOTE_DISTANCE, rows.owner[np.maximum(neighbours, 0)], -1)
        pairs = np.unique(np.stack([np.repeat(np.arange(len(owners)), owners.shape[1]), owners.ravel()], 1), axis=0)
        voted = pairs[pairs[:, 1] >= 0, 1]
        if window is not None:
            voted = voted[(rows.t[voted] >= window[0]) & (rows.t[voted] <= window[1])]
        counts = np.bincount(voted, minlength=len(rows))
        best = np.argsort(-counts, kind="stable")[:VOTED_CANDIDATES]
        return [int(r) for r in best if counts[r] > 1]

    def _binary_index(self):
        if self._index is None:
            import faiss

            self._index = faiss.IndexBinaryFlat(8 * self.rows.descriptors.shape[1])
            self._index.add(self.rows.descriptors)
        return self._index

    def _clip_hits(self, found: list[int], scores: dict[int, int], ranked: list[Hit], window) -> list[Hit]:
        """The clip entry holding each verified frame, as hits scored by inliers."""
        rows = self.rows
        by_id = {h.entry.id: h for h in ranked}
        paths = {sid: path for path, sid in self._source_ids.items()}
        out: list[Hit] = []
        for r in found:
            t, sid = float(rows.t[r]), int(rows.source_id[r])
            if window is not None and not window[0] <= t <= window[1]:
                continue
            ids = self.store.select_ids("episodic", "clip", t, t, source_id=sid)
            entries = [e for e in self.store.get_entries(ids) if e.source == paths.get(sid)]
            if not entries or any(h.entry.id == entries[0].id for h in out):
                continue
            entry = entries[0]
            cosine = by_id[entry.id].cosine if entry.id in by_id else None
            inliers = scores[r]
            out.append(Hit(entry, geometric_score(inliers), "geometric", cosine))
        return self._break_ties(out)


def geometric_score(inliers: int) -> float:
    """A verified match's score, in (1, 2): above every cosine, so merging rankings keeps it first."""
    return 1.0 + inliers / (inliers + 20.0)


def geometric_inliers(score: float) -> float:
    """The inlier count behind a ``geometric_score``."""
    x = score - 1.0
    return 20.0 * x / (1.0 - x)


def verified_first(hits: list[Hit]) -> list[Hit]:
    """Geometrically verified hits ahead of the rest (each group keeps its order)."""
    return [h for h in hits if h.via == "geometric"] + [h for h in hits if h.via != "geometric"]
