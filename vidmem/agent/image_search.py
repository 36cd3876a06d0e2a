"""Image queries verified geometrically: the clip whose stored frame shares a rigid set of corners wins.

The global descriptor ranks clips by how alike whole frames look, which a crop, a window border or
a heavy JPEG disturbs. Each clip keeps ORB keypoints of one frame (``vidmem.storage.local_features``);
a query's keypoints are matched against candidates and a RANSAC similarity counts the matches
that agree on one placement (inliers). Candidates come in two stages:

1. the clips the global descriptor ranks highest (cheap; enough for most queries);
2. when none of those reaches ``STRONG_INLIERS``, every stored keypoint votes (nearest neighbours
   of the query's descriptors over the whole store) and the most-voted frames are verified too.

The best verified frame (at least ``min_inliers``) names the clip that comes first in the answer.
3. when the stored corners leave it unsure (no verified frame, fewer than ``STRONG_INLIERS``, or two
   frames about as good), the best candidates are looked at again in the source video, when it is
   on disk and unchanged (``vidmem.agent.source_check``), and its best frame's clip comes first;
   when none of them matches there, the next few clips of the global ranking are looked at too.
   Where the global ranking's first is the best verified clip, a lone weak match stands and tied
   clips are looked at inside only (``second_look_needed``).
Stores built before local features existed answer as before (global ranking only).
"""

from __future__ import annotations

import numpy as np

from encoders.local_features import LocalFeatureConfig, LocalFeatures
from vidmem.agent.reader import Hit
from vidmem.storage.local_features import FeatureRows, load_features, recorded_channel
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
SECOND_LOOK_VERIFIED = 3
"""Verified clips (each with ``SECOND_LOOK_PAD`` seconds either side) looked at again in the source."""
SECOND_LOOK_PAD = 1.0
SECOND_LOOK_GLOBAL = 3
"""Unverified clips of the global ranking looked at again in the source."""
SECOND_LOOK_LATER = 8
"""When that look finds nothing, the global ranking's unverified clips up to this rank are looked at next
(fast footage under a crop: the right clip ranks 4th-6th behind look-alikes, mirrored filler among them)."""
TIE_FRACTION = 0.75
"""Verified frames with at least this fraction of the best inlier count are ranked by the global cosine."""


class ImageVerifier:
    """Verifies image-query candidates against the store's local features.

    Args:
        store: an open store.
        config: local-feature settings (must match the ones used at ingest; by default the store's record).
    """

    def __init__(self, store: MemoryStore, config: LocalFeatureConfig | None = None) -> None:
        self.store = store
        self._config = config
        self._features: LocalFeatures | None = None
        self._rows: FeatureRows | None = None
        self._loaded = False
        self._index = None
        self._source_ids: dict[str, int] = {}
        self._check = None  # a SourceCheck, made on the first query the stored corners leave unsure

    @property
    def features(self) -> LocalFeatures:
        """The ORB matcher, built on the first image query: it loads OpenCV (~0.1 s), which text questions skip."""
        if self._features is None:
            self._features = LocalFeatures(self._config or LocalFeatureConfig(channel=recorded_channel(self.store.db)))
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
        hits = self._clip_hits(found, scores, ranked, window)
        look = second_look_needed([scores[r] for r in found], hits, ranked)
        if look is None:
            return hits
        return self._second_look(image, hits, ranked, window, tied_only=look == "tied")

    def _second_look(
        self, image: np.ndarray, hits: list[Hit], ranked: list[Hit], window, tied_only: bool = False
    ) -> list[Hit]:
        """Hits with the source video's best matching frame first (``vidmem.agent.source_check``).

        ``tied_only``: look only inside the verified clips tied with the best (no pad, no global
        candidates, no later look), when the best is also the global ranking's first.
        """
        check = self._source_check()
        if tied_only:
            best = geometric_inliers(hits[0].score)
            tied = [h for h in hits if geometric_inliers(h.score) >= TIE_FRACTION * best - 1e-6]
            stages = [[(h, 0.0) for h in tied[:SECOND_LOOK_VERIFIED]]]
        else:
            unverified = [h for h in ranked if h.via != "geometric"]
            first = [(h, SECOND_LOOK_PAD) for h in hits[:SECOND_LOOK_VERIFIED]]
            first += [(h, 0.0) for h in unverified[:SECOND_LOOK_GLOBAL]]
            stages = [first, [(h, 0.0) for h in unverified[SECOND_LOOK_GLOBAL:SECOND_LOOK_LATER]]]
        match = None
        for spans in stages:
            wanted = self._spans(spans, window)
            match = check.best(image, wanted) if wanted else None
            if match is not None:
                break
        if match is None:
            return hits
        entry = self._clip_entry(match.source_id, match.t)
        if entry is None:
            return hits
        by_id = {h.entry.id: h for h in ranked}
        cosine = by_id[entry.id].cosine if entry.id in by_id else None
        score = max([geometric_score(match.inliers)] + [h.score + 1e-6 for h in hits if h.via == "geometric"])
        return [Hit(entry, min(score, 1.999999), "geometric", cosine)] + [h for h in hits if h.entry.id != entry.id]

    def _spans(self, hits: list[tuple[Hit, float]], window) -> list[tuple[int, float, float]]:
        """``(source id, t0, t1)`` of each hit's clip widened by its pad, inside ``window``."""
        wanted = []
        for h, pad in hits:
            sid = self._source_ids.get(h.entry.source)
            if sid is not None:
                t0, t1 = h.entry.t_start - pad, h.entry.t_end + pad
                if window is not None:
                    t0, t1 = max(t0, window[0]), min(t1, window[1])
                if t1 >= t0:
                    wanted.append((sid, t0, t1))
        return wanted

    def _source_check(self):
        if self._check is None:
            from vidmem.agent.source_check import SourceCheck

            self._check = SourceCheck({s.id: (s.path, s.fingerprint) for s in self.store.sources()})
        return self._check

    def _clip_entry(self, source_id: int, t: float):
        """The clip entry of a source holding time ``t`` (the one starting there when two meet), or None."""
        path = next((p for p, sid in self._source_ids.items() if sid == source_id), None)
        ids = self.store.select_ids("episodic", "clip", t, t, source_id=source_id)
        entries = [e for e in self.store.get_entries(ids) if e.source == path]
        if not entries:
            return None
        return max(entries, key=lambda e: (e.t_start <= t < e.t_end, e.t_start))

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
        tied_ids = {id(h) for h in tied}  # by identity: Hit equality compares entries' vector arrays
        rest = [h for h in hits if id(h) not in tied_ids]
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
        out: list[Hit] = []
        for r in found:
            t, sid = float(rows.t[r]), int(rows.source_id[r])
            if window is not None and not window[0] <= t <= window[1]:
                continue
            entry = self._clip_entry(sid, t)
            if entry is None or any(h.entry.id == entry.id for h in out):
                continue
            cosine = by_id[entry.id].cosine if entry.id in by_id else None
            inliers = scores[r]
            out.append(Hit(entry, geometric_score(inliers), "geometric", cosine))
        return self._break_ties(out)


def second_look_needed(inliers: list[int], hits: list[Hit], ranked: list[Hit]) -> str | None:
    """Whether the source is looked at again: None (the stored corners decide), ``"tied"`` or ``"all"``.

    Args:
        inliers: the verified frames' inlier counts, most first.
        hits: the verified clip hits, best first; ranked: the global ranking, best first.

    The stored corners decide alone when the best frame has ``STRONG_INLIERS`` and no rival near it,
    or when one weak verified clip stands alone and is also the global ranking's first (``_agree``).
    Tied clips that the global ranking agrees with are told apart by looking inside them only
    (``"tied"``); anything else (nothing verified, or geometry and the global ranking name
    different clips) gets the full look (``"all"``).
    """
    if inliers and inliers[0] >= STRONG_INLIERS and not _tied(inliers):
        return None
    if not _agree(hits, ranked):
        return "all"
    return "tied" if _tied(inliers) else None


def _tied(inliers: list[int]) -> bool:
    """The second best verified frame has about as many inliers as the best (``TIE_FRACTION``)."""
    return len(inliers) > 1 and inliers[1] >= TIE_FRACTION * inliers[0]


def _agree(hits: list[Hit], ranked: list[Hit]) -> bool:
    """The best verified clip is also the global ranking's first: two independent looks name one clip.

    A sole weak geometric match (no other frame near its inliers) then needs no second look in the
    source. Ties still get one: a still shot stores the same corners in every clip it spans, and
    only the source's frames tell its instants apart. On the joined needle hour
    (``--needle-seed 1``, 640 asks) 345 asks looked again before; in the 167 where the two agreed
    the look moved no answer by more than the benchmark's 2 s (it did pick the exact clip of 17
    tied still shots, hence the look inside tied clips).
    """
    return bool(hits) and bool(ranked) and hits[0].entry.id == ranked[0].entry.id


def geometric_score(inliers: int) -> float:
    """A verified match's score, in (1, 2): above every cosine, so merging rankings keeps it first."""
    return 1.0 + inliers / (inliers + 20.0)


def geometric_inliers(score: float) -> float:
    """The inlier count behind a ``geometric_score``."""
    x = score - 1.0
    return 20.0 * x / (1.0 - x)


def verified_first(hits: list[Hit]) -> list[Hit]:
    """Geometrically verified hits ahead of the rest, most inliers first; the rest keep their order.

    The verified hits' order is their scores' (inliers, ties already broken by cosine), not the
    order a later re-ranking gave them: a window's context may lift a look-alike's clip among the
    unverified, but 8 inliers do not beat 11 of the query's own frame because more clips near the
    8 matched the query loosely (kitchen 2.8 s under JPEG 30 on the joined needle hour did).
    """
    verified = sorted((h for h in hits if h.via == "geometric"), key=lambda h: -h.score)
    return verified + [h for h in hits if h.via != "geometric"]
