"""The store's memoised reads (select_ids, get_entries, groups) follow every change of the database."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidmem.storage.store import MemoryStore
from vidmem.types import MemoryEntry


def _subtitle(t: float, text: str) -> MemoryEntry:
    return MemoryEntry("text", "subtitle", t, t + 5.0, text=text, extra={"_tvector": np.ones(4, np.float32) / 2})


def _reads(store: MemoryStore) -> tuple[list[int], list[str], list[tuple[str, str, int]]]:
    ids = store.select_ids("text", None, 0.0, 100.0, with_text=True).tolist()
    return ids, [e.text for e in store.get_entries(ids)], store.groups()


def test_reads_see_another_connections_commit(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with MemoryStore(root, create=True) as writer:
        sid = writer.add_source("/v.mp4", "fp", 100.0, {})
        with writer.transaction():
            writer.insert_entries(sid, [_subtitle(10.0, "the red kettle")])
        with MemoryStore(root, read_only=True) as reader:
            first = _reads(reader)
            assert _reads(reader) == first  # memoised, same answer
            with writer.transaction():  # another connection commits (like a live ingest)
                writer.insert_entries(sid, [_subtitle(40.0, "a blue bicycle")])
            ids, texts, groups = _reads(reader)
            assert texts == ["the red kettle", "a blue bicycle"]
            assert len(ids) == 2 and groups == [("text", "subtitle", 2)]
            with writer.transaction():  # a changed entry under the same id is read again
                writer.db.execute("UPDATE entries SET text='a green bicycle' WHERE id=?", (ids[1],))
            assert [e.text for e in reader.get_entries(ids)] == ["the red kettle", "a green bicycle"]
            assert reader.time_spans(ids[::-1]) == [(ids[1], 40.0, 45.0), (ids[0], 10.0, 15.0)]


def test_reads_see_own_writes(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "store", create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 100.0, {})
        with store.transaction():
            store.insert_entries(sid, [_subtitle(10.0, "the red kettle")])
        assert _reads(store)[1] == ["the red kettle"]
        with store.transaction():
            store.replace_entries(sid, "text", "subtitle", [_subtitle(20.0, "a clock")])
        ids, texts, groups = _reads(store)
        assert texts == ["a clock"] and groups == [("text", "subtitle", 1)]
        returned = store.select_ids("text")
        returned[0] = -1  # callers may scribble on what they get: the memo is not theirs
        assert store.select_ids("text").tolist() == ids


def test_reads_forget_rolled_back_writes(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "store", create=True) as store:
        sid = store.add_source("/v.mp4", "fp", 100.0, {})
        try:
            with store.transaction():
                store.insert_entries(sid, [_subtitle(10.0, "the red kettle")])
                assert _reads(store)[1] == ["the red kettle"]  # read inside the transaction
                raise RuntimeError("the ingest fails before committing")
        except RuntimeError:
            pass
        assert _reads(store) == ([], [], [])
