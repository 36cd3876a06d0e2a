"""Retrieval primitives over a store: visual search, hybrid text search, time windows."""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np

from vidmem.storage.store import TEXT_SPACE, MemoryStore, query_terms, stem, words
from vidmem.types import Evidence, MemoryEntry

RERANK_POOL = 64
"""Clip candidates re-ranked frame by frame for image queries."""

IMAGE_POOL = 200
"""Clips (by mean vector) whose frames an image query scores with the encoder's placed similarity.

A crop or a screenshot lowers the right clip's plain cosine below look-alikes', so the pool must be
wide enough to hold it until the placed scores lift it. On the joined needle hour (1,920 queries)
200 clips ranked as well as placed scores over every stored frame (right clip in the top 24:
0.996); a pool of 28 clips, 0.984."""

FRAME_POOL = 64
"""Frames nearest an image query (plain cosine over every stored frame) whose clips join
``IMAGE_POOL``: in a fast pan a clip's mean vector is far from any one of its frames, so the clip
holding the query's own frame (a detail frame, ``vidmem.detail_frames``) can miss the mean-vector
pool (bikes 3.0 s on the joined needle hour: its clip 155th by mean vector, first by that frame).
Of 36 such queries there (seeds 0 and 3), the clip ranked first by its best frame for 18, 2nd-29th
for 17 and 106th for one; 64 frames hold the 29th."""

FUSION_POOL = 100
"""Candidates each side of hybrid search contributes before fusion."""

DENSE_WEIGHT = 0.7
"""Weight of the dense cosine in hybrid scores; the lexical part gets the rest.

Fusion is a convex combination of normalised scores (Bruch et al. 2022 found it beats reciprocal
rank fusion): ``0.7 * max(cos, 0) + 0.3 * coverage * bm25 / best_bm25``, where ``coverage`` is the
fraction of the query's content words an entry contains. Weighting BM25 by coverage keeps an entry
that shares one incidental word with the question from outranking a true paraphrase.
"""


@dataclass
class Hit:
    """A retrieved entry with its score and how it was found (``dense``, ``lexical``, ``fused``)."""

    entry: MemoryEntry
    score: float
    via: str
    cosine: float | None = None
    coverage: float | None = None

    @property
    def group(self) -> str:
        e = self.entry
        if e.store == "episodic":
            return f"episodic@{e.scale}"
        return e.store

    def evidence(self, store: MemoryStore) -> Evidence:
        return Evidence(
            source=self.group, t_start=self.entry.t_start, t_end=self.entry.t_end, score=self.score,
            text=self.entry.text, keyframe=store.keyframe_path(self.entry.keyframe), video=self.entry.source,
        )  # fmt: skip


class MemoryReader:
    """Reads a store for the agent.

    Args:
        store: an open store.
        encoder: the store's visual encoder (for image queries, and text queries when it has a text tower).
        text_encoder: the store's text encoder, or None when the store holds no text.
    """

    def __init__(self, store: MemoryStore, encoder, text_encoder) -> None:
        self.store = store
        self.encoder = encoder
        self.text_encoder = text_encoder
        self._frames: tuple | None = None  # (key, owner ids, float32 [F,D]) of every clip's frames

    @property
    def has_text(self) -> bool:
        return self.text_encoder is not None and self.store.index(TEXT_SPACE) is not None

    def groups(self) -> list[str]:
        return [f"{s}@{sc}" if s == "episodic" else s for s, sc, _ in self.store.groups()]

    def search_vector(
        self, query: np.ndarray, group: str, k: int, window: tuple[float, float] | None = None
    ) -> list[Hit]:
        """Dense search of one visual group (``episodic@clip``, ``visual``, ``semantic``).

        Clips are found by their mean vector, then re-ranked by their best single frame (a query
        image is one frame; a clip's mean blurs where things are), over ``RERANK_POOL`` candidates.
        """
        if group == "episodic@clip":
            pool = self._search_group(query, group, max(k, RERANK_POOL), window)
            return self._by_best_frame(pool, lambda frames: frames @ query)[:k]
        return self._search_group(query, group, k, window)

    def search_image(
        self, image: np.ndarray, vector: np.ndarray, k: int, window: tuple[float, float] | None = None
    ) -> list[Hit]:
        """Clips for an image query (``uint8 [H,W,3]`` RGB, and its ``vector``), scored by their best frame.

        When the encoder offers ``placed_similarity`` (the classical descriptor does), ``IMAGE_POOL``
        clips found by their mean vector are scored frame by frame allowing the query to be a crop
        of a frame or to hold one inside a border; otherwise this is ``search_vector``.
        """
        placed = getattr(self.encoder, "placed_similarity", None)
        if placed is None:
            return self.search_vector(vector, "episodic@clip", k, window)
        pool = self._search_group(vector, "episodic@clip", max(k, IMAGE_POOL), window)
        pool += self._frame_owners(vector, FRAME_POOL, window, {h.entry.id for h in pool})
        return self._by_best_frame(pool, lambda frames: placed(image, frames))[:k]

    def _frame_owners(self, vector: np.ndarray, n: int, window, exclude: set[int]) -> list[Hit]:
        """Clip hits owning the ``n`` frames nearest ``vector`` by cosine (clips in ``exclude`` left out)."""
        ids = self.store.select_ids("episodic", "clip")
        key = (len(ids), int(ids[-1]) if len(ids) else -1)
        if self._frames is None or self._frames[0] != key:
            stacks = self.store.frame_vectors(ids)
            owned = [np.full(len(v), i, np.int64) for i, v in stacks.items()]
            owners = np.concatenate(owned) if owned else np.zeros(0, np.int64)
            matrix = np.concatenate(list(stacks.values())) if stacks else np.zeros((0, len(vector)), np.float32)
            self._frames = (key, owners, matrix.astype(np.float32))
        _, owners, matrix = self._frames
        if window is not None:
            inside = np.isin(owners, self.store.select_ids("episodic", "clip", window[0], window[1]))
            owners, matrix = owners[inside], matrix[inside]
        if not len(owners):
            return []
        scores = matrix @ vector.astype(np.float32)
        top = np.argsort(-scores)[:n]
        wanted = [int(i) for i in dict.fromkeys(owners[top].tolist()) if int(i) not in exclude]
        entries = {e.id: e for e in self.store.get_entries(wanted)}
        return [Hit(entries[i], float(scores[top][owners[top] == i].max()), "dense") for i in wanted if i in entries]

    def _by_best_frame(self, pool: list[Hit], score) -> list[Hit]:
        """``pool`` scored by each clip's best frame, best first (``score``: ``float [F,D]`` -> ``[F]``).

        A clip that stored no frame vectors counts its mean vector as its one frame.
        """
        if not pool:
            return []
        frames = self.store.frame_vectors([h.entry.id for h in pool])
        stacks = [frames.get(h.entry.id, h.entry.vector[None]) for h in pool]
        scores = score(np.concatenate(stacks))
        bounds = np.cumsum([0] + [len(x) for x in stacks])
        for h, a, b in zip(pool, bounds[:-1], bounds[1:], strict=True):
            h.score = h.cosine = float(scores[a:b].max())
        return sorted(pool, key=lambda h: -h.score)

    def _search_group(
        self, query: np.ndarray, group: str, k: int, window: tuple[float, float] | None = None
    ) -> list[Hit]:
        index = self.store.index(group)
        if index is None:
            return []
        allowed = None
        if window is not None:
            store, _, scale = group.partition("@")
            allowed = self.store.select_ids(store, scale or None, window[0], window[1])
            if len(allowed) == 0:
                return []
        scores, ids = index.search(query[None].astype(np.float32), k, allowed)
        return self._hits(ids[0], scores[0], "dense")

    def search_text(
        self,
        query: str,
        k: int,
        window: tuple[float, float] | None = None,
        stores: tuple[str, ...] | None = None,
    ) -> list[Hit]:
        """Hybrid search over everything carrying text: dense (text encoder) + BM25, fused (see ``fuse``).

        Both sides return at least ``FUSION_POOL`` candidates, so the fused top-k does not depend on k.
        """
        if not self.has_text:
            return []
        allowed = self._text_ids(window, stores)
        if allowed is not None and len(allowed) == 0:
            return []
        pool = max(3 * k, FUSION_POOL)
        dense = self.dense_text(query, pool, allowed)
        lexical = self.lexical_text(query, pool, allowed)
        return fuse(dense, lexical, k)

    def dense_text(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
        index = self.store.index(TEXT_SPACE)
        if index is None:
            return []
        qv = query_vector(self.text_encoder, query)
        scores, ids = index.search(qv[None], k, allowed)
        return self._hits(ids[0], scores[0], "dense")

    def lexical_text(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
        pairs = self.store.lexical_search(query, k, allowed)
        entries = {e.id: e for e in self.store.get_entries([i for i, _ in pairs])}
        terms = query_terms(query)
        return [
            Hit(entries[i], s, "lexical", coverage=term_coverage(terms, entries[i].text))
            for i, s in pairs
            if i in entries
        ]

    def texts_during(self, t0: float, t1: float) -> list[MemoryEntry]:
        """Text entries (subtitles, captions, on-screen text) overlapping ``[t0, t1]`` by more than a touch."""
        eps = 1e-3 if t1 - t0 > 2e-3 else 0.0
        return self.store.get_entries(self.store.select_ids("text", None, t0 + eps, t1 - eps))

    def _text_ids(self, window, stores) -> np.ndarray | None:
        if window is None and stores is None:
            return None
        ids = [
            self.store.select_ids(s, None, *(window or (None, None)), with_text=True)
            for s in (stores or ("episodic", "visual", "semantic", "text"))
        ]
        return np.concatenate(ids) if ids else np.zeros(0, np.int64)

    def _hits(self, ids: np.ndarray, scores: np.ndarray, via: str) -> list[Hit]:
        keep = [(int(i), float(s)) for i, s in zip(ids, scores, strict=True) if i >= 0]
        entries = {e.id: e for e in self.store.get_entries([i for i, _ in keep])}
        return [Hit(entries[i], s, via, cosine=s) for i, s in keep if i in entries]

    def text_similarity(self, texts: list[str], others: list[str]) -> np.ndarray:
        """Cosine ``float [len(texts), len(others)]`` in the text encoder's space."""
        a = self.text_encoder.encode_text(texts)
        b = self.text_encoder.encode_text(others)
        return a @ b.T


def fuse(dense: list[Hit], lexical: list[Hit], k: int) -> list[Hit]:
    """Convex combination of a dense and a lexical ranking (see ``DENSE_WEIGHT``)."""
    best_lex = max((h.score for h in lexical), default=0.0)
    parts: dict[int, list[float]] = {}
    entries: dict[int, Hit] = {}
    for h in dense:
        parts.setdefault(h.entry.id, [0.0, 0.0])[0] = max(0.0, h.score)
        entries[h.entry.id] = h
    for h in lexical:
        coverage = h.coverage if h.coverage is not None else 1.0
        parts.setdefault(h.entry.id, [0.0, 0.0])[1] = coverage * h.score / best_lex if best_lex > 0 else 0.0
        entries.setdefault(h.entry.id, h)
    scored = {i: DENSE_WEIGHT * d + (1 - DENSE_WEIGHT) * lx for i, (d, lx) in parts.items()}
    order = sorted(scored, key=lambda i: -scored[i])[:k]
    out = []
    for i in order:
        d, lx = parts[i]
        via = "+".join(name for name, v in (("dense", d), ("lexical", lx)) if v > 0) or "dense"
        out.append(Hit(entries[i].entry, scored[i], via, entries[i].cosine))
    return out


def merge_rankings(rankings: list[list[Hit]], k: int) -> list[Hit]:
    """Merges rankings whose scores share a scale (cosines of one space): best score per entry."""
    best: dict[int, Hit] = {}
    for ranking in rankings:
        for h in ranking:
            if h.entry.id not in best or h.score > best[h.entry.id].score:
                best[h.entry.id] = h
    return sorted(best.values(), key=lambda h: -h.score)[:k]


def term_coverage(terms: list[str], text: str) -> float:
    """Fraction of query terms found in ``text``, compared by stem."""
    if not terms:
        return 0.0
    have = _stems(text)
    return sum(stem(t) in have for t in terms) / len(terms)


@functools.lru_cache(maxsize=65536)
def _stems(text: str) -> frozenset[str]:
    """Stems of the words of ``text`` (memoised: the same memories' words are checked every round)."""
    return frozenset(stem(w) for w in words(text))


_QUERY_VECTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Per text encoder, query vectors already computed: one question's rounds search the same words again."""


def query_vector(text_encoder, query: str) -> np.ndarray:
    """``float32 [D]`` unit vector of one query, encoded alone (as before the cache) and kept."""
    cache = _QUERY_VECTORS.setdefault(text_encoder, {})
    if query not in cache:
        if len(cache) > 4096:
            cache.clear()
        cache[query] = text_encoder.encode_text([query])[0]
    return cache[query]


def clear_query_cache() -> None:
    """Forgets the cached query vectors (benchmarks time each question from scratch)."""
    _QUERY_VECTORS.clear()
