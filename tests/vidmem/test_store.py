"""The store directory: records, vector indexes, schema checks, bad directories."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from vidmem.errors import StoreError
from vidmem.storage import database
from vidmem.storage import store as store_module
from vidmem.storage.schema import pack_state, unpack_state
from vidmem.storage.store import MemoryStore
from vidmem.storage.usage import store_usage
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


def test_index_file_is_reused_and_rebuilt_when_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "SAVE_FLAT_INDEXES", True)  # as HNSW and IVF-PQ indexes are
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


def test_flat_indexes_are_rebuilt_from_sqlite_not_saved(tmp_path):
    root = tmp_path / "s"
    with MemoryStore(root, create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        entries = _entries(6)
        with store.transaction():
            ids = store.insert_entries(sid, entries)
        assert store.index("episodic@clip").ntotal == 6
    assert not (root / "index" / "episodic@clip.faiss").exists()
    with MemoryStore(root, read_only=True) as store:
        scores, found = store.index("episodic@clip").search(np.stack([e.vector for e in entries]), 1)
    assert found[:, 0].tolist() == ids and scores.min() > 0.99


def test_an_older_stores_pages_and_index_files_still_serve(tmp_path, monkeypatch):
    """A store made before 16 KB pages, incremental vacuum and unsaved flat indexes: its file is used while
    it matches SQLite, dropped once stale; releasing free pages leaves its database alone."""
    root = tmp_path / "old"
    with monkeypatch.context() as older:
        older.setattr(database, "NEW_STORE_PRAGMAS", ())
        older.setattr(store_module, "SAVE_FLAT_INDEXES", True)
        with MemoryStore(root, create=True) as store:
            sid = store.add_source("/v.mp4", "fp", 20.0, {})
            with store.transaction():
                store.insert_entries(sid, _entries(5))
            store.index("episodic@clip")
    saved = root / "index" / "episodic@clip.faiss"
    with MemoryStore(root) as store:
        assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert store.index("episodic@clip").ntotal == 5 and saved.is_file()
        with store.transaction():
            store.replace_entries(sid, "episodic", "clip", _entries(2, seed=1))
        assert store.release_free_pages() == 0
        store.refresh_indexes()
        assert store.index("episodic@clip").ntotal == 2  # stale: rebuilt from SQLite
    assert not saved.exists()
    assert "episodic@clip" not in json.loads((root / "index" / "manifest.json").read_text())


def test_new_stores_pack_rows_in_large_pages_and_release_freed_pages(tmp_path):
    with MemoryStore(tmp_path / "s", create=True) as store:
        assert store.db.execute("PRAGMA page_size").fetchone()[0] == database.PAGE_SIZE
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        with store.transaction():
            store.insert_entries(sid, _entries(400, dim=512))
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        with store.transaction():
            store.replace_entries(sid, "episodic", "clip", _entries(10, dim=512))
        freed = store.db.execute("PRAGMA freelist_count").fetchone()[0]
        assert freed > 0 and store.release_free_pages() == freed
        assert store.db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert store.db.execute("PRAGMA page_count").fetchone()[0] <= pages - freed
        assert store.count() == 10


def test_store_usage_adds_up_to_the_directory(tmp_path):
    root = tmp_path / "s"
    with MemoryStore(root, create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 20.0, {})
        with store.transaction():
            store.insert_entries(sid, _entries(50, dim=64))
    (root / "keyframes" / "1").mkdir(parents=True)
    (root / "keyframes" / "1" / "0000000.jpg").write_bytes(bytes(1000))
    usage = store_usage(root)
    assert usage["total"] == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert usage["keyframes"] == 1000 and usage["index_files"] == 0
    assert usage["total"] == usage["sqlite"] + usage["keyframes"] + usage["index_files"] + usage["other_files"]
    assert usage["entries_vectors"] == 50 * 64 * 2  # float16
    if "sqlite_entries" in usage:  # dbstat is compiled into this SQLite
        assert usage["sqlite_entries"] >= usage["entries_vectors"]


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
