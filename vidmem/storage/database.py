"""Opening a store's SQLite file: recognise it before writing anything, fall back to read-only.

A ``store.sqlite`` that another program owns must stay byte-identical, so recognition reads it
with ``immutable=1`` (no locks, no ``-wal``/``-shm`` files, no writes) and only then is the file
opened for writing. A store on a read-only filesystem (or opened ``read_only``) is read through
``mode=ro``, or ``immutable=1`` when SQLite cannot use the WAL's shared memory there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from pathlib import Path
from urllib.parse import quote

from vidmem.errors import StoreError, StoreWarning
from vidmem.storage.schema import SCHEMA, SCHEMA_VERSION

SQLITE_HEADER = b"SQLite format 3\x00"
REQUIRED_TABLES = frozenset({"meta", "sources", "entries"})
_TEMP_SUFFIX = ".creating"
PAGE_SIZE = 16384
"""Page size of new stores. A clip row (mean vector, frame vectors, text vector: ~3 KB) fits once in
SQLite's default 4 KB page, leaving a quarter of the entries table empty; 16 KB pages hold five
(a 20-min default store with speech and OCR: ``store.sqlite`` 17.1 -> 15.6 MB per video-hour, free
pages released too). Older stores keep their page size."""
NEW_STORE_PRAGMAS = (f"PRAGMA page_size={PAGE_SIZE}", "PRAGMA auto_vacuum=INCREMENTAL")
"""``auto_vacuum=INCREMENTAL`` lets :func:`release_free_pages` give back the pages that replaced
groups (semantic prototypes, facts, merged clips) free at each checkpoint."""


def recognise_store(db_path: Path) -> int:
    """The schema version of a vidmem database; anything else is refused without being touched.

    Raises:
        StoreError: not SQLite, SQLite of another program, a bad schema value, or unreadable.
    """
    try:
        with db_path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {db_path}: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        raise StoreError(f"{db_path} is not a readable vidmem store (not an SQLite database); left untouched")
    found = _probe(db_path, _probe_flags(db_path))
    if found is None:
        raise StoreError(f"{db_path} belongs to another program (no vidmem tables); not a vidmem store, left untouched")
    return _schema_version(db_path, found)


def _probe_flags(db_path: Path) -> str:
    """``immutable=1`` reads without creating or locking anything; but a write-ahead log beside the
    file means a live (or killed) WAL database, whose pages a writer may be moving right now and
    whose newest rows may be only in the log: read that one through SQLite's locks, read-only."""
    if not Path(f"{db_path}-wal").exists():
        return "immutable=1"
    try:
        db = _connect(db_path, "mode=ro")
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        db.close()
        return "mode=ro"
    except sqlite3.OperationalError:
        return "immutable=1"  # a read-only filesystem that SQLite cannot lock on


def _probe(db_path: Path, flags: str) -> str | None:
    """The stored ``schema_version`` value when the vidmem tables are present, else None."""
    try:
        db = _connect(db_path, flags)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables >= REQUIRED_TABLES:
                return None
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db_path} is not a readable vidmem store ({exc})") from None
    if row is None:
        raise StoreError(f"{db_path} has vidmem's tables but no schema version; not a vidmem store")
    return row[0]


def _schema_version(db_path: Path, raw: str) -> int:
    try:
        version = json.loads(raw)
    except (TypeError, ValueError):
        version = None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreError(f"{db_path} has an invalid schema version {str(raw)[:40]!r}; not a readable vidmem store")
    return version


def create_database(db_path: Path) -> sqlite3.Connection:
    """Makes a new store database: built under a temporary name, then moved into place.

    A crash mid-creation leaves no half-made ``store.sqlite``; when two processes create the same
    store at once, the first link wins and the other opens it.
    """
    tmp = db_path.with_name(f"{db_path.name}.{os.getpid()}{_TEMP_SUFFIX}")
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        for pragma in NEW_STORE_PRAGMAS:  # only take effect before the first table exists
            db.execute(pragma)
        db.executescript(SCHEMA)
        db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (json.dumps(SCHEMA_VERSION),))
        db.execute("INSERT INTO meta(key, value) VALUES ('created', ?)", (json.dumps(time.time()),))
        db.execute("PRAGMA journal_mode=WAL")
        db.close()
        _move_into_place(tmp, db_path)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise StoreError(f"cannot create store {db_path.parent}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    recognise_store(db_path)
    db, _ = open_database(db_path, read_only=False)
    return db


def release_free_pages(db: sqlite3.Connection) -> int:
    """Returns a store's free pages to the filesystem (after an ingest); a no-op on stores made
    without incremental auto-vacuum (older versions), which reuse them on their next writes instead.

    Returns:
        The pages released.
    """
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2: incremental
        return 0
    free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    if free:
        db.executescript("PRAGMA incremental_vacuum;")  # execute() would run one step: one page
    return free


def _move_into_place(tmp: Path, db_path: Path) -> None:
    try:
        os.link(tmp, db_path)  # fails when another process made the store first
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links
        if not db_path.exists():
            os.replace(tmp, db_path)


def is_creation_temp(path: Path) -> bool:
    """A database another process is creating right now, or its journal (ignored by the empty-directory check)."""
    return path.name.startswith("store.sqlite.") and _TEMP_SUFFIX in path.name


def open_database(db_path: Path, read_only: bool) -> tuple[sqlite3.Connection, bool]:
    """A connection to a recognised store, and whether it is read-only.

    Writable stores use WAL; a store that cannot be written is opened read-only with a warning.
    """
    if not read_only and os.access(db_path.parent, os.W_OK) and os.access(db_path, os.W_OK):
        try:
            db = sqlite3.connect(db_path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("SELECT COUNT(*) FROM meta").fetchone()
            return db, False
        except sqlite3.OperationalError as exc:
            warnings.warn(f"{db_path} cannot be opened for writing ({exc}); reading it read-only", StoreWarning, 2)
    return _open_read_only(db_path), True


def _open_read_only(db_path: Path) -> sqlite3.Connection:
    try:
        db = _connect(db_path, "mode=ro")
        db.execute("SELECT COUNT(*) FROM meta").fetchone()
        return db
    except sqlite3.OperationalError:
        pass  # SQLite cannot make the WAL's -shm file here (read-only filesystem): read the file as is
    wal = Path(f"{db_path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        warnings.warn(
            f"{db_path} is on a read-only filesystem with an unmerged write-ahead log; "
            "answers use what was checkpointed before it",
            StoreWarning,
            3,
        )
    try:
        db = _connect(db_path, "immutable=1")
        db.execute("SELECT COUNT(*) FROM meta").fetchone()
        return db
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db_path} is not a readable vidmem store ({exc})") from None


def _connect(db_path: Path, flags: str) -> sqlite3.Connection:
    uri = f"file:{quote(str(db_path.resolve()))}?{flags}"
    return sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=True)
