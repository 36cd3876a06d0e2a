"""A memory store is a directory: SQLite (WAL) records, FAISS index files, JPEG keyframes.

Layout::

    STORE/store.sqlite        records, vectors (float16), sources, resumable ingest state
    STORE/index/<group>.faiss derived HNSW / IVF-PQ indexes, rebuilt from SQLite when stale
                              (exact flat ones are rebuilt from SQLite at load, not saved)
    STORE/keyframes/<source>/<clip>.jpg

Writes happen in transactions, one per ingest checkpoint, so a killed ingest leaves the store at
its last checkpoint and resumes from there.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidmem.errors import StoreError
from vidmem.memory.facts import STOPWORDS
from vidmem.storage.database import (
    create_database,
    is_creation_temp,
    open_database,
    recognise_store,
    release_free_pages,
)
from vidmem.storage.index import VectorIndex
from vidmem.storage.index_files import IndexFiles
from vidmem.storage.ivfpq import COMPRESS_THRESHOLD, build_compressed
from vidmem.storage.schema import (
    DB_NAME,
    SCHEMA_VERSION,
    blob_to_vector,
    pack_state,
    unpack_state,
    vector_to_blob,
)
from vidmem.types import MemoryEntry

TEXT_SPACE = "text-space"
"""Index group over text-encoder vectors of every entry that carries text."""

SAVE_FLAT_INDEXES = False
"""Whether exact (flat) indexes are saved under ``index/``. They are not: a flat index holds the
same float16 vectors as SQLite plus ids, so its file doubled the vectors' bytes (4.7 of 24 MB per
video-hour of a default store with speech and OCR), and rebuilding one from SQLite at load costs
about as much as reading and checksumming its file (~7 ms for an hour's 3,700 text vectors, ~110 ms
at the 50,000 where HNSW, whose graph is worth saving, takes over). Tests turn it on to exercise
the file checks, which HNSW and IVF-PQ files go through."""


@dataclass
class SourceRecord:
    """One indexed video (or stream) in the store."""

    id: int
    path: str
    fingerprint: str
    duration: float | None
    settings: dict[str, Any]
    status: str
    next_clip: int
    state: dict[str, Any] | None


class MemoryStore:
    """Opens (or creates) a store directory.

    Args:
        root: the store directory.
        create: create the store when the directory is missing or empty.
        read_only: never write (``info``, ``ask``); also chosen, with a warning, when the store
            cannot be written (a read-only filesystem).

    Raises:
        StoreError: not a store, a store from a newer schema, or unreadable.
    """

    def __init__(self, root: str | Path, create: bool = False, read_only: bool = False) -> None:
        self.root = Path(root)
        self._indexes: dict[str, VectorIndex] = {}
        self._reads: dict = {}  # memoised read results, valid while _reads_version holds (see _read_cache)
        self._reads_version: tuple[int, int] | None = None
        self._keyframe_paths: dict[str, str] = {}
        db_path = self.root / DB_NAME
        if self._check_root(create):
            self.db = create_database(db_path)
            self.read_only = False
        else:
            version = recognise_store(db_path)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.root} has schema version {version}, newer than this vidmem supports "
                    f"({SCHEMA_VERSION}); upgrade vidmem to read it"
                )
            self.db, self.read_only = open_database(db_path, read_only)

    def _check_root(self, create: bool) -> bool:
        """True when a new store is to be made here (the directory is missing or empty)."""
        if self.root.is_symlink() and not self.root.exists():
            raise StoreError(f"{self.root} is a symbolic link that leads nowhere (a loop or a missing target)")
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root} is a file, not a store directory")
        if (self.root / DB_NAME).exists():
            return False
        if not create:
            if not self.root.exists():
                raise StoreError(f"no store at {self.root} (index a video into it first)")
            raise StoreError(f"{self.root} is not a vidmem store (no {DB_NAME} inside)")
        if self.root.exists() and any(p for p in self.root.iterdir() if not is_creation_temp(p)):
            if (self.root / DB_NAME).exists():
                return False  # another process created the store meanwhile
            raise StoreError(f"{self.root} is not a vidmem store and is not empty; choose a new or empty directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store directory {self.root}: {exc.strerror or exc}") from None
        return True

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- metadata -------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            self._reads_version = None  # total_changes does not go back: forget reads of the undone writes
            raise
        self.db.execute("COMMIT")

    # --- sources --------------------------------------------------------------------------

    def find_source(self, fingerprint: str) -> SourceRecord | None:
        row = self.db.execute(
            "SELECT id, path, fingerprint, duration, settings, status, next_clip, state "
            "FROM sources WHERE fingerprint=?",
            (fingerprint,),
        ).fetchone()
        return None if row is None else _source_from_row(row)

    def sources(self) -> list[SourceRecord]:
        rows = self.db.execute(
            "SELECT id, path, fingerprint, duration, settings, status, next_clip, NULL FROM sources ORDER BY id"
        ).fetchall()
        return [_source_from_row(r) for r in rows]

    def add_source(self, path: str, fingerprint: str, duration: float | None, settings: dict) -> int:
        cur = self.db.execute(
            "INSERT INTO sources(path, fingerprint, duration, settings, status, next_clip, updated) "
            "VALUES (?, ?, ?, ?, 'partial', 0, ?)",
            (path, fingerprint, duration, json.dumps(settings), time.time()),
        )
        return int(cur.lastrowid)

    def save_progress(self, source_id: int, next_clip: int, state: dict[str, Any], status: str) -> None:
        """Records how far an ingest got and its builder state (call inside a transaction)."""
        self.db.execute(
            "UPDATE sources SET next_clip=?, state=?, status=?, updated=? WHERE id=?",
            (next_clip, pack_state(state), status, time.time(), source_id),
        )

    def delete_source(self, source_id: int) -> None:
        """Removes a source and its entries (used by ``--reindex``)."""
        with self.transaction():
            self.db.execute("DELETE FROM entries WHERE source_id=?", (source_id,))
            self.db.execute("DELETE FROM sources WHERE id=?", (source_id,))
        kf_dir = self.root / "keyframes" / str(source_id)
        if kf_dir.is_dir():
            for f in kf_dir.iterdir():
                f.unlink()
            kf_dir.rmdir()

    # --- entries --------------------------------------------------------------------------

    def insert_entries(self, source_id: int, entries: Sequence[MemoryEntry]) -> list[int]:
        """Writes entries (call inside a transaction); returns their new ids."""
        ids = []
        now = time.time()
        for e in entries:
            cur = self.db.execute(
                "INSERT INTO entries(source_id, store, scale, t_start, t_end, vector, frames, tvector, keyframe, "
                "text, encoder, written_at, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    source_id, e.store, e.scale, float(e.t_start), float(e.t_end),
                    vector_to_blob(e.vector), vector_to_blob(e.extra.get("_frames")),
                    vector_to_blob(e.extra.get("_tvector")),
                    e.keyframe, e.text, e.encoder, e.written_at or now,
                    json.dumps({k: v for k, v in e.extra.items() if not k.startswith("_")}),
                ),
            )  # fmt: skip
            e.id = int(cur.lastrowid)
            ids.append(e.id)
        return ids

    def replace_entries(self, source_id: int, store: str, scale: str, entries: Sequence[MemoryEntry]) -> None:
        """Replaces one (store, scale) group of a source, e.g. semantic prototypes that evolve."""
        self.db.execute("DELETE FROM entries WHERE source_id=? AND store=? AND scale=?", (source_id, store, scale))
        self.insert_entries(source_id, entries)

    def _read_cache(self) -> dict:
        """Memoised read results, emptied whenever the database may have changed.

        ``PRAGMA data_version`` changes when another connection (an ingest in another process)
        commits; ``total_changes`` when this connection writes. A warm agent asks the same
        filters and entries again and again: reading them once per database state saves most of
        its SQLite time.
        """
        version = (self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes)
        if version != self._reads_version:
            self._reads, self._reads_version = {}, version
        return self._reads

    def get_entries(self, ids: Sequence[int]) -> list[MemoryEntry]:
        """Entries by id, in the order given (unknown ids are left out)."""
        return [_entry_from_row(row) for row in self._rows(ids)]

    def time_spans(self, ids: Sequence[int]) -> list[tuple[int, float, float]]:
        """(id, t_start, t_end) of entries by id, in the order given: ``get_entries`` without decoding vectors."""
        return [(row[0], row[3], row[4]) for row in self._rows(ids)]

    def _rows(self, ids: Sequence[int]) -> list[tuple]:
        """The entries' rows (as ``_entry_from_row`` reads them) by id, in the order given, memoised."""
        if not len(ids):
            return []
        wanted = [int(i) for i in ids]
        cached = self._read_cache().setdefault("rows", {})
        if len(cached) > 50_000:  # bound the memory of a long session (a row is ~1 KB with its vector)
            cached.clear()
        rows = {i: cached[i] for i in wanted if i in cached}
        for chunk in _chunks([i for i in dict.fromkeys(wanted) if i not in rows], 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                "SELECT e.id, e.store, e.scale, e.t_start, e.t_end, e.vector, e.keyframe, e.text, "
                f"s.path, e.encoder, e.written_at, e.extra FROM entries e JOIN sources s ON s.id = e.source_id "
                f"WHERE e.id IN ({marks})",
                chunk,
            ):
                rows[row[0]] = cached[row[0]] = row
        return [rows[i] for i in wanted if i in rows]

    def frame_vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Per-frame vectors ``float32 [T,D]`` of clip entries that stored them, by id."""
        out = {}
        for chunk in _chunks([int(i) for i in ids], 500):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, frames, length(vector) FROM entries WHERE frames IS NOT NULL AND id IN ({marks})"
            for eid, blob, vlen in self.db.execute(sql, chunk):
                out[eid] = blob_to_vector(blob).reshape(-1, vlen // 2)
        return out

    def select_ids(
        self,
        store: str | None = None,
        scale: str | None = None,
        t_min: float | None = None,
        t_max: float | None = None,
        source_id: int | None = None,
        with_text: bool = False,
    ) -> np.ndarray:
        """Ids of entries matching filters; a time window keeps entries overlapping it."""
        selections = self._read_cache().setdefault("select_ids", {})
        key = (store, scale, t_min, t_max, source_id, with_text)
        if key not in selections:
            where, args = _filters(store, scale, t_min, t_max, source_id)
            if with_text:
                where.append("tvector IS NOT NULL")
            sql = "SELECT id FROM entries" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t_start"
            if len(selections) > 512:
                selections.clear()
            selections[key] = np.array([r[0] for r in self.db.execute(sql, args)], dtype=np.int64)
        return selections[key].copy()

    def count(self, store: str | None = None, scale: str | None = None, source_id: int | None = None) -> int:
        where, args = _filters(store, scale, None, None, source_id)
        sql = "SELECT COUNT(*) FROM entries" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self.db.execute(sql, args).fetchone()[0])

    def groups(self) -> list[tuple[str, str, int]]:
        """(store, scale, count) for every group holding entries."""
        cache = self._read_cache()
        if "groups" not in cache:
            cache["groups"] = [
                (r[0], r[1], r[2])
                for r in self.db.execute(
                    "SELECT store, scale, COUNT(*) FROM entries GROUP BY store, scale ORDER BY store, scale"
                )
            ]
        return list(cache["groups"])

    def lexical_search(
        self, query: str, k: int, allowed_ids: np.ndarray | None = None, require_all: bool = False
    ) -> list[tuple[int, float]]:
        """BM25 over entry text (SQLite FTS5); returns (id, score) best first, score > 0.

        ``require_all`` keeps only entries containing every content word of the query.
        """
        terms = query_terms(query)
        if not terms:
            return []
        match = (" AND " if require_all else " OR ").join(f'"{t}"' for t in terms)
        rows = self.db.execute(
            "SELECT rowid, bm25(entries_fts) FROM entries_fts WHERE entries_fts MATCH ? ORDER BY bm25(entries_fts) "
            "LIMIT ?",
            (match, max(k * 20, 200)),
        ).fetchall()
        allowed = None if allowed_ids is None else set(allowed_ids.tolist())
        hits = [(int(r[0]), -float(r[1])) for r in rows if allowed is None or r[0] in allowed]
        return hits[:k]

    def keyframe_path(self, name: str | None) -> str | None:
        if not name:
            return None
        if name not in self._keyframe_paths:  # resolving walks the filesystem: once per name
            self._keyframe_paths[name] = str((self.root / "keyframes" / name).resolve())
        return self._keyframe_paths[name]

    def missing_keyframes(self, source_id: int | None = None) -> list[str]:
        """Keyframe files that entries name but ``keyframes/`` lacks (deleted by hand, a lost disk)."""
        sql = "SELECT DISTINCT keyframe FROM entries WHERE keyframe IS NOT NULL AND keyframe != ''"
        args: tuple = ()
        if source_id is not None:
            sql, args = sql + " AND source_id=?", (source_id,)
        folder = self.root / "keyframes"
        return sorted(name for (name,) in self.db.execute(sql, args) if not (folder / name).is_file())

    # --- vector indexes -------------------------------------------------------------------

    def index(self, group: str) -> VectorIndex | None:
        """The vector index of a group (``episodic@clip``, ``visual``, ``semantic``, ``text-space``).

        Loaded from its file when the file matches SQLite (counts and ids) and its checksum;
        otherwise rebuilt from SQLite and saved, or kept in memory when it cannot be saved.
        Returns None when the group holds no vectors.
        """
        if group in self._indexes:
            return self._indexes[group]
        column, where, args = self._group_query(group)
        signature = list(
            self.db.execute(
                f"SELECT COUNT(*), COALESCE(MAX(id),0), COALESCE(SUM(id),0) FROM entries {where}", args
            ).fetchone()
        )
        if signature[0] == 0:
            return None
        files = IndexFiles(self.root / "index")
        index = files.load(group, signature)  # an older store's flat file is still used while it matches
        if index is None:
            index = self._build_index(column, where, args, int(signature[0]))
            if SAVE_FLAT_INDEXES or getattr(index, "kind", "") != "flat":
                files.save(group, signature, index)
            elif not self.read_only:
                files.forget(group)  # a stale copy of vectors SQLite holds: bytes for nothing
        if getattr(index, "kind", "") == "ivfpq":  # compressed: re-rank its candidates from float16 vectors
            from vidmem.storage.ivfpq import vectors_by_id

            index.fetch = functools.partial(vectors_by_id, self.db, column)
        self._indexes[group] = index
        return index

    def _group_query(self, group: str) -> tuple[str, str, tuple]:
        if group == TEXT_SPACE:
            return "tvector", "WHERE tvector IS NOT NULL", ()
        store, _, scale = group.partition("@")
        if scale:
            return "vector", "WHERE vector IS NOT NULL AND store=? AND scale=?", (store, scale)
        return "vector", "WHERE vector IS NOT NULL AND store=?", (store,)

    def _build_index(self, column: str, where: str, args: tuple, n: int) -> VectorIndex:
        if n > COMPRESS_THRESHOLD:
            return build_compressed(self.db, column, where, args, n)
        index = None
        cur = self.db.execute(f"SELECT id, {column} FROM entries {where} ORDER BY id", args)
        while rows := cur.fetchmany(8192):
            ids, blobs = zip(*rows, strict=True)
            # one buffer for the chunk: a flat index is rebuilt at every cold load, so this is ask latency
            vecs = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(ids), -1).astype(np.float32)
            if index is None:
                index = VectorIndex.for_size(vecs.shape[1], n)
            index.add(np.array(ids, dtype=np.int64), vecs)
        assert index is not None
        return index

    def refresh_indexes(self) -> None:
        """Drops cached indexes so the next use rebuilds stale ones (after writes)."""
        self._indexes.clear()

    def release_free_pages(self) -> int:
        """Gives the database's free pages back to the filesystem (end of an ingest); returns how many."""
        return 0 if self.read_only else release_free_pages(self.db)

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def _filters(store, scale, t_min, t_max, source_id) -> tuple[list[str], list]:
    where, args = [], []
    for col, val in (("store", store), ("scale", scale), ("source_id", source_id)):
        if val is not None:
            where.append(f"{col}=?")
            args.append(val)
    if t_min is not None:
        where.append("t_end>=?")
        args.append(float(t_min))
    if t_max is not None:
        where.append("t_start<=?")
        args.append(float(t_max))
    return where, args


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` with possessives and contractions cut off ("where's" -> "where")."""
    out = []
    for w in re.findall(r"[\w']+", text.lower()):
        w = re.sub(r"('s|'re|'ve|'ll|'d|n't|')$", "", w)
        if w:
            out.append(w)
    return out


def query_terms(query: str) -> list[str]:
    """Content words of a query (stopwords and question words removed)."""
    return [t for t in words(query) if len(t) > 1 and t not in _STOPWORDS]


def stem(word: str) -> str:
    """A light suffix stripper, close enough to FTS5's porter stemmer for word-coverage checks."""
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


_QUESTION_WORDS = frozenset(
    "many much times time video said say says shown show written write appear appears appeared happen happens happened"
    " mention mentions mentioned mentioning talk talks talked talking speak speaks spoke spoken tell tells told"
    "".split()
)
_STOPWORDS = STOPWORDS | _QUESTION_WORDS


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _source_from_row(row: tuple) -> SourceRecord:
    return SourceRecord(
        id=row[0], path=row[1], fingerprint=row[2], duration=row[3], settings=json.loads(row[4]),
        status=row[5], next_clip=row[6], state=unpack_state(row[7]) if row[7] else None,
    )  # fmt: skip


def _entry_from_row(row: tuple) -> MemoryEntry:
    return MemoryEntry(
        id=row[0], store=row[1], scale=row[2], t_start=row[3], t_end=row[4], vector=blob_to_vector(row[5]),
        keyframe=row[6], text=row[7], source=row[8], encoder=row[9], written_at=row[10], extra=json.loads(row[11]),
    )  # fmt: skip
