"""Compressed vector index for large collections: IVF-PQ codes in memory, exact re-ranking from float16.

A store's exact (flat) index keeps every vector as float16 (``2 * D`` bytes), and HNSW adds a
graph on top, so 1,000 hours of 2-second clips (1.8 M vectors) would hold gigabytes in RAM. Above
``COMPRESS_THRESHOLD`` vectors the store builds this index instead: an inverted file over
``nlist`` k-means cells, each vector stored as ``m`` one-byte product-quantiser codes (``D / 8``
bytes: 42 for the 336-d classical descriptor), trained on a sample of the store's own vectors.
A search reads ``nprobe`` cells, takes the ``rerank`` best candidates by code distance and
re-scores them exactly from their float16 vectors (fetched from SQLite by id), so the scores
returned are true cosines and the top-k is exact whenever the true top-k is among the candidates.

Figures behind the threshold and the defaults: ``vidmem bench collection`` (README).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

COMPRESS_THRESHOLD = 400_000
"""Vectors above which a group is indexed with IVF-PQ (below: flat, then HNSW; see ``index.py``)."""

TRAIN_PER_CELL = 40
"""Training vectors per inverted-file cell (k-means wants ~39 or more)."""

DEFAULT_NPROBE = 48
DEFAULT_RERANK = 256


def cells_for(n: int) -> int:
    """Inverted-file cells for ``n`` vectors: about ``sqrt(n)`` as a power of two, 256..4096."""
    return int(min(4096, max(256, 2 ** round(math.log2(max(1.0, math.sqrt(n)))))))


def codes_for(dim: int) -> int:
    """PQ sub-quantisers: the largest divisor of ``dim`` not above ``dim / 8`` (8-d sub-vectors).

    Coarse codes only pick candidates; the exact re-ranking orders them, so finer codes would
    double memory and training time for no recall (``vidmem bench collection``).
    """
    return max(m for m in range(1, max(1, dim // 8) + 1) if dim % m == 0)


class CompressedIndex:
    """IVF-PQ over ``float32 [N,D]`` unit vectors with int64 ids, inner product.

    Args:
        dim: vector length D.
        n_hint: how many vectors it will hold (chooses ``nlist``).
        nprobe: cells searched per query.
        rerank: candidates re-scored exactly when ``fetch`` is set.

    Attributes:
        fetch: ``ids int64 [K] -> float32 [K,D]`` vectors for exact re-ranking (the store sets it);
            None re-ranks nothing and returns the codes' approximate scores.
    """

    kind = "ivfpq"

    def __init__(self, dim: int, n_hint: int, nprobe: int = DEFAULT_NPROBE, rerank: int = DEFAULT_RERANK) -> None:
        import faiss

        self.dim = dim
        self.nprobe = nprobe
        self.rerank = rerank
        self.fetch: Callable[[np.ndarray], np.ndarray] | None = None
        quantizer = faiss.IndexFlatIP(dim)
        self._index = faiss.IndexIVFPQ(quantizer, dim, cells_for(n_hint), codes_for(dim), 8, faiss.METRIC_INNER_PRODUCT)
        self._quantizer = quantizer  # faiss keeps a raw pointer: the Python object must outlive the index

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def train_size(self) -> int:
        return TRAIN_PER_CELL * int(self._index.nlist)

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, vectors: np.ndarray) -> None:
        """Learns the cells and codebooks from a sample ``float32 [S,D]`` of the vectors to hold."""
        self._index.train(np.ascontiguousarray(vectors, dtype=np.float32))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Adds ``float32 [N,D]`` vectors under ``int64 [N]`` ids (after :meth:`train`)."""
        if len(ids) == 0:
            return
        if not self.is_trained:
            raise RuntimeError("train the compressed index on a sample of its vectors before adding")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vector dim {vectors.shape[1]} does not match index dim {self.dim}")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: ``(scores float32 [Q,k], ids int64 [Q,k])``, missing results id -1."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.ntotal))
        pool = max(k, self.rerank if self.fetch is not None else k)
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        if allowed_ids is not None:
            # a restricted search (a time window, one video) may have few allowed vectors per cell: probe more
            params = faiss.SearchParametersIVF(
                sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64)),
                nprobe=min(int(self._index.nlist), self.nprobe * 4),
            )
        scores, ids = self._index.search(queries, pool, params=params)
        if self.fetch is None:
            return scores[:, :k], ids[:, :k]
        return self._exact(queries, ids, k)

    def _exact(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out_s = np.full((len(queries), k), -np.inf, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        for q, row in enumerate(candidates):
            ids = row[row >= 0]
            if len(ids) == 0:
                continue
            exact = self.fetch(ids) @ queries[q]
            best = np.argsort(-exact, kind="stable")[:k]
            out_s[q, : len(best)], out_i[q, : len(best)] = exact[best], ids[best]
        return out_s, out_i

    def to_bytes(self) -> bytes:
        import faiss

        return faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_raw(cls, raw) -> CompressedIndex:
        """Wraps a deserialised faiss IVF-PQ index (``raw`` as ``deserialize_index`` returned it)."""
        import faiss

        obj = cls.__new__(cls)
        obj.dim, obj.nprobe, obj.rerank, obj.fetch = raw.d, DEFAULT_NPROBE, DEFAULT_RERANK, None
        obj._index = faiss.downcast_index(raw)
        obj._quantizer = raw  # the owning proxy: the downcast one does not keep the C++ index alive
        return obj

    def memory_bytes(self) -> int:
        """Bytes the codes, ids and cell centroids take in memory."""
        code = int(self._index.code_size) + 8
        return self.ntotal * code + int(self._index.nlist) * self.dim * 4


def build_compressed(db, column: str, where: str, args: tuple, n: int, seed: int = 0) -> CompressedIndex:
    """Builds the compressed index of one store group from SQLite: train on a sample, then stream in.

    Args:
        db: the store's SQLite connection.
        column: ``vector`` or ``tvector``.
        where, args: the group's ``WHERE`` clause and its parameters.
        n: vectors in the group.
        seed: the training sample's seed (the same store gives the same index).
    """
    from vidmem.storage.schema import blob_to_vector

    ids = np.array([r[0] for r in db.execute(f"SELECT id FROM entries {where} ORDER BY id", args)], np.int64)
    first = db.execute(f"SELECT {column} FROM entries {where} LIMIT 1", args).fetchone()[0]
    index = CompressedIndex(len(blob_to_vector(first)), n)
    sample = np.sort(np.random.default_rng(seed).choice(ids, min(len(ids), index.train_size), replace=False))
    index.train(vectors_by_id(db, column, sample))
    cur = db.execute(f"SELECT id, {column} FROM entries {where} ORDER BY id", args)
    while rows := cur.fetchmany(8192):
        index.add(np.array([r[0] for r in rows], np.int64), np.stack([blob_to_vector(r[1]) for r in rows]))
    return index


def vectors_by_id(db, column: str, ids: np.ndarray) -> np.ndarray:
    """``float32 [K,D]`` vectors of ``ids`` from SQLite, in the order given."""
    from vidmem.storage.schema import blob_to_vector

    found: dict[int, np.ndarray] = {}
    wanted = [int(i) for i in ids]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        sql = f"SELECT id, {column} FROM entries WHERE id IN ({','.join('?' * len(chunk))})"
        for eid, blob in db.execute(sql, chunk):
            found[eid] = blob_to_vector(blob)
    return np.stack([found[i] for i in wanted])
