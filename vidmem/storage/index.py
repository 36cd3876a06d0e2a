"""FAISS vector index with stable ids: flat (float16) when small, HNSW when large, GPU when present.

The index is a derived cache: SQLite holds every vector (float16) and the index can always be
rebuilt from it. Inner product on unit vectors, so scores are cosine similarities.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HNSW_THRESHOLD = 50_000
"""Above this many vectors an index is built as HNSW instead of an exact flat scan."""


def _faiss():
    import faiss

    return faiss


def gpu_available() -> bool:
    """True when faiss was built with GPU support and sees a CUDA device."""
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class VectorIndex:
    """An id-mapped inner-product index over ``float32 [N,D]`` unit vectors.

    Args:
        dim: vector length D.
        kind: ``flat`` (exact, float16 storage) or ``hnsw`` (approximate, for large stores).
        use_gpu: move searches to the GPU when faiss-gpu and CUDA are present ("auto").
    """

    def __init__(self, dim: int, kind: str = "flat", use_gpu: bool | str = "auto") -> None:
        faiss = _faiss()
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"index kind must be 'flat' or 'hnsw', got {kind!r}")
        self.dim = dim
        self.kind = kind
        if kind == "flat":
            base = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        else:
            base = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, 32, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = 128
        self._index = faiss.IndexIDMap2(base)
        self._use_gpu = gpu_available() if use_gpu == "auto" else bool(use_gpu)
        self._gpu_index = None

    @classmethod
    def for_size(cls, dim: int, n: int, use_gpu: bool | str = "auto") -> VectorIndex:
        """Picks flat or HNSW by the number of vectors it will hold."""
        return cls(dim, "hnsw" if n > HNSW_THRESHOLD else "flat", use_gpu)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Adds ``float32 [N,D]`` vectors under ``int64 [N]`` ids."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vector dim {vectors.shape[1]} does not match index dim {self.dim}")
        if self.kind == "flat" and not self._index.index.is_trained:
            self._index.index.train(vectors)
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu_index = None

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product.

        Args:
            queries: ``float32 [Q,D]``.
            k: results per query.
            allowed_ids: restrict results to these ids (time windows, one source).

        Returns:
            ``(scores float32 [Q,k], ids int64 [Q,k])``; missing results have id -1.
        """
        faiss = _faiss()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.ntotal))
        if self.ntotal == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if allowed_ids is not None:
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
            params = (
                faiss.SearchParametersHNSW(sel=sel, efSearch=256)
                if self.kind == "hnsw"
                else faiss.SearchParameters(sel=sel)
            )
            return self._index.search(queries, k, params=params)
        return self._searcher().search(queries, k)

    def _searcher(self):
        if not self._use_gpu or self.kind != "flat":
            return self._index
        if self._gpu_index is None:
            faiss = _faiss()
            self._gpu_res = faiss.StandardGpuResources()
            self._gpu_index = faiss.index_cpu_to_gpu(self._gpu_res, 0, self._index)
        return self._gpu_index

    def to_bytes(self) -> bytes:
        """The index serialised by faiss (what :meth:`save` writes)."""
        return _faiss().serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, use_gpu: bool | str = "auto") -> VectorIndex:
        """Inverse of :meth:`to_bytes`; raises ``RuntimeError`` on bytes faiss cannot read."""
        faiss = _faiss()
        raw = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if isinstance(faiss.downcast_index(raw), faiss.IndexIVFPQ):  # a large group's compressed index
            from vidmem.storage.ivfpq import CompressedIndex

            return CompressedIndex.from_raw(raw)
        return cls._wrap(raw, use_gpu)

    def save(self, path: Path) -> None:
        """Writes the index atomically (temp file + rename); a failed write leaves no temp file."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        try:
            tmp.write_bytes(self.to_bytes())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, use_gpu: bool | str = "auto") -> VectorIndex:
        return cls.from_bytes(Path(path).read_bytes(), use_gpu)

    @classmethod
    def _wrap(cls, raw, use_gpu: bool | str) -> VectorIndex:
        faiss = _faiss()
        inner = faiss.downcast_index(raw.index) if hasattr(raw, "index") else raw
        kind = "hnsw" if "HNSW" in type(inner).__name__ else "flat"
        obj = cls(raw.d, kind, use_gpu)
        obj._index = raw if isinstance(raw, faiss.IndexIDMap2) else faiss.IndexIDMap2(raw)
        return obj
