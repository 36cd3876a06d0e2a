"""A store seen through one of its videos (``ask --video NAME``): every read is limited to that source.

The agent reads a store through a handful of methods (ids by filter, counts, groups, vector and
word search, entries by id); :class:`SourceView` narrows each of them to one ``source_id`` and
passes everything else through, so the agent answers from one video of a collection without
knowing collections exist. Views are read-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidmem.storage.store import TEXT_SPACE, MemoryStore, SourceRecord


class SourceView:
    """``store`` limited to the source ``source_id``.

    Args:
        store: an open store.
        source_id: the video to keep.
    """

    def __init__(self, store: MemoryStore, source_id: int) -> None:
        self._store = store
        self.source_id = source_id
        self._group_ids: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)  # root, db, get_meta, get_entries, frame_vectors, keyframe_path ...

    def sources(self) -> list[SourceRecord]:
        return [s for s in self._store.sources() if s.id == self.source_id]

    def select_ids(self, store=None, scale=None, t_min=None, t_max=None, source_id=None, with_text=False) -> np.ndarray:
        if source_id is not None and source_id != self.source_id:
            return np.zeros(0, np.int64)
        return self._store.select_ids(store, scale, t_min, t_max, self.source_id, with_text)

    def count(self, store: str | None = None, scale: str | None = None, source_id: int | None = None) -> int:
        if source_id is not None and source_id != self.source_id:
            return 0
        return self._store.count(store, scale, self.source_id)

    def groups(self) -> list[tuple[str, str, int]]:
        rows = self._store.db.execute(
            "SELECT store, scale, COUNT(*) FROM entries WHERE source_id=? GROUP BY store, scale ORDER BY store, scale",
            (self.source_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def lexical_search(self, query: str, k: int, allowed_ids=None, require_all: bool = False):
        allowed = self.select_ids() if allowed_ids is None else allowed_ids
        hits = self._store.lexical_search(query, max(k, 1) * 10, allowed, require_all)
        mine = set(self.select_ids().tolist())
        return [(i, s) for i, s in hits if i in mine][:k]

    def missing_keyframes(self, source_id: int | None = None) -> list[str]:
        return self._store.missing_keyframes(self.source_id)

    def index(self, group: str):
        full = self._store.index(group)
        if full is None:
            return None
        if group not in self._group_ids:
            self._group_ids[group] = self._ids_of(group)
        ids = self._group_ids[group]
        return None if len(ids) == 0 else _RestrictedIndex(full, ids)

    def _ids_of(self, group: str) -> np.ndarray:
        if group == TEXT_SPACE:
            return self._store.select_ids(source_id=self.source_id, with_text=True)
        store, _, scale = group.partition("@")
        return self._store.select_ids(store, scale or None, source_id=self.source_id)


class _RestrictedIndex:
    """A vector index whose searches only return the given ids."""

    def __init__(self, index, ids: np.ndarray) -> None:
        self._index = index
        self._ids = np.sort(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    @property
    def ntotal(self) -> int:
        return len(self._ids)

    def search(self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None):
        allowed = self._ids if allowed_ids is None else np.intersect1d(self._ids, allowed_ids)
        if len(allowed) == 0:
            q = len(np.atleast_2d(queries))
            return np.zeros((q, 0), np.float32), np.zeros((q, 0), np.int64)
        return self._index.search(queries, k, allowed)
