"""The store directory: records, vector indexes, schema checks, bad directories."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from vidmem.errors import StoreError
from vidmem.storage.schema import pack_state, unpack_state
from vidmem.storage.store import MemoryStore
from vidmem.types import MemoryEntry


def _entries(n: int, dim: int = 8, seed: int = 0) -> list[MemoryEntry]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return [
        MemoryEntry("episodic", "clip", 2.0 * i, 2.0 * i + 2, vector=vecs[i], text=f"clip number {i}") for i in range(n)
    ]


def test_entries_round_trip_and_vector_search(tmp_path):
    with MemoryStore(tmp_path / "s", create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {"fps": 1})
        entries = _entries(10)
        with store.transaction():
            ids = store.insert_entries(sid, entries)
        back = store.get_entries(ids[::-1])
        assert [e.t_start for e in back] == [e.t_start for e in entries[::-1]]
        np.testing.assert_allclose(back[0].vector, entries[-1].vector, atol=1e-3)  # float16 on disk
        index = store.index("episodic@clip")
        scores, found = index.search(entries[3].vector, 2)
        assert found[0][0] == ids[3] and scores[0][0] > 0.99


def test_time_window_and_allowed_ids_restrict_search(tmp_path):
    with MemoryStore(tmp_path / "s", create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        entries = _entries(10)
        with store.transaction():
            store.insert_entries(sid, entries)
        allowed = store.select_ids("episodic", "clip", t_min=10.0, t_max=13.0)
        assert sorted(e.t_start for e in store.get_entries(allowed)) == [8.0, 10.0, 12.0]
        _, found = store.index("episodic@clip").search(entries[0].vector, 3, allowed)
        assert set(found[0].tolist()) <= set(allowed.tolist())


def test_index_file_is_reused_and_rebuilt_when_stale(tmp_path):
    root = tmp_path / "s"
    with MemoryStore(root, create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        with store.transaction():
            store.insert_entries(sid, _entries(5))
        assert store.index("episodic@clip").ntotal == 5
    assert (root / "index" / "episodic@clip.faiss").is_file()
    with MemoryStore(root) as store:
        with store.transaction():
            store.insert_entries(1, _entries(3, seed=1))
        assert store.index("episodic@clip").ntotal == 8  # stale file detected, rebuilt from SQLite


def test_rolled_back_transaction_leaves_store_unchanged(tmp_path):
    with MemoryStore(tmp_path / "s", create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        with pytest.raises(RuntimeError), store.transaction():
            store.insert_entries(sid, _entries(4))
            raise RuntimeError("crash")
        assert store.count() == 0


def test_lexical_search_ranks_matching_text(tmp_path):
    with MemoryStore(tmp_path / "s", create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        texts = ["the cat sleeps", "a dog barks loudly", "the dog and the cat play"]
        with store.transaction():
            ids = store.insert_entries(
                sid, [MemoryEntry("text", "subtitle", i, i + 1, text=t) for i, t in enumerate(texts)]
            )
        hits = store.lexical_search("dog barks", 5)
        assert hits[0][0] == ids[1]
        assert [i for i, _ in store.lexical_search("dog cat", 5, require_all=True)] == [ids[2]]


def test_not_a_store_and_newer_schema_are_clear_errors(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a vidmem store"):
        MemoryStore(tmp_path / "junk", create=True)
    with pytest.raises(StoreError, match="no store at"):
        MemoryStore(tmp_path / "missing")
    root = tmp_path / "new"
    MemoryStore(root, create=True).close()
    db = sqlite3.connect(root / "store.sqlite")
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (json.dumps(99),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        MemoryStore(root)
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "store.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable"):
        MemoryStore(tmp_path / "garbage")


def test_state_packs_without_pickle():
    state = {"a": {"x": [1, 2]}, "v": np.arange(4, dtype=np.float32)}
    back = unpack_state(pack_state(state))
    assert back["a"] == {"x": [1, 2]}
    np.testing.assert_array_equal(back["v"], state["v"])


def test_hnsw_index_searches_filters_and_round_trips(tmp_path):
    from vidmem.storage.index import VectorIndex

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(2000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(2000, dtype=np.int64) + 1000
    index = VectorIndex(16, "hnsw", use_gpu=False)
    index.add(ids, vecs)
    _, found = index.search(vecs[:20], 1)
    assert (found[:, 0] == ids[:20]).mean() >= 0.95
    allowed = ids[1500:1600]
    _, found = index.search(vecs[1550], 5, allowed)
    assert found[0][0] == ids[1550] and set(found[0].tolist()) <= set(allowed.tolist())
    index.save(tmp_path / "h.faiss")
    back = VectorIndex.load(tmp_path / "h.faiss", use_gpu=False)
    assert back.kind == "hnsw" and back.ntotal == 2000
    assert back.search(vecs[7], 1)[1][0][0] == ids[7]
