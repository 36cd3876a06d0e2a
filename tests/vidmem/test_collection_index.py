"""The compressed (IVF-PQ) index: recall against exact search on synthetic clip vectors, and in a store."""

from __future__ import annotations

import numpy as np
import pytest

from eval.bench_collection import exact_top, noisy_queries, recall_at, synthetic_clip_vectors
from vidmem.storage import store as store_module
from vidmem.storage.ivfpq import CompressedIndex
from vidmem.storage.store import MemoryStore
from vidmem.types import MemoryEntry


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return synthetic_clip_vectors(20_000, 64, seed=3)


@pytest.fixture(scope="module")
def index(vectors) -> CompressedIndex:
    index = CompressedIndex(64, len(vectors))
    rng = np.random.default_rng(0)
    index.train(vectors[rng.choice(len(vectors), index.train_size, replace=False)].astype(np.float32))
    index.add(np.arange(len(vectors)) + 1000, vectors.astype(np.float32))  # ids need not be row numbers
    return index


def test_recall_at_10_with_exact_reranking(index, vectors):
    queries = noisy_queries(vectors, 100, seed=5)
    truth = exact_top(vectors, queries, 10) + 1000
    index.fetch = lambda ids: vectors[ids - 1000].astype(np.float32)
    scores, ids = index.search(queries, 10)
    assert recall_at(ids, truth) >= 0.95
    exact = np.einsum("qd,qkd->qk", queries, vectors[ids - 1000].astype(np.float32))
    np.testing.assert_allclose(scores, exact, atol=1e-5)  # re-ranked scores are true cosines
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_codes_are_much_smaller_than_float16(index, vectors):
    assert index.memory_bytes() < vectors.nbytes / 2  # 8 code bytes + 8 id bytes per 128-byte float16 vector


def test_allowed_ids_restrict_results(index, vectors):
    allowed = np.arange(1000, 1000 + len(vectors), 7)
    index.fetch = lambda ids: vectors[ids - 1000].astype(np.float32)
    _, ids = index.search(vectors[:5].astype(np.float32), 10, allowed)
    assert set(ids[ids >= 0].tolist()) <= set(allowed.tolist())
    assert ids[0, 0] == 1000  # row 0 is allowed and is its own nearest neighbour


def test_store_switches_to_the_compressed_index_above_the_threshold(tmp_path, monkeypatch, vectors):
    monkeypatch.setattr(store_module, "COMPRESS_THRESHOLD", 2_000)
    root = tmp_path / "store"
    rows = vectors[:3_000].astype(np.float32)
    with MemoryStore(root, create=True) as store:
        sid = store.add_source("/videos/v.mp4", "f" * 40, 6000.0, {})
        with store.transaction():
            ids = store.insert_entries(sid, [
                MemoryEntry(store="episodic", scale="clip", t_start=2.0 * i, t_end=2.0 * i + 2, vector=v, source="v")
                for i, v in enumerate(rows)
            ])  # fmt: skip
        built = store.index("episodic@clip")
        assert built.kind == "ivfpq" and built.ntotal == 3_000
    with MemoryStore(root, read_only=True) as store:  # loaded from its file, re-ranking from SQLite
        loaded = store.index("episodic@clip")
        assert loaded.kind == "ivfpq" and loaded.fetch is not None
        scores, found = loaded.search(rows[[10, 2_500]], 3)
        assert found[:, 0].tolist() == [ids[10], ids[2_500]]
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=2e-3)  # float16 copies of the query itself
        window = store.select_ids("episodic", "clip", 100.0, 200.0)
        _, inside = loaded.search(rows[[10]], 5, window)
        assert set(inside[0].tolist()) <= set(window.tolist())
