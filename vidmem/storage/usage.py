"""Where a store's bytes go: SQLite pages per table, the entries' columns, index files, keyframes.

Used by ``vidmem bench senses`` to report bytes per video-hour by component. The SQLite figures
are pages (what the file holds, free space included) from the ``dbstat`` table when this SQLite
has it; the columns are payload bytes (what rows hold, page overhead excluded).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from vidmem.storage.schema import DB_NAME

TABLE_GROUPS = {
    "entries": ("entries", "entries_by_group"),
    "text_search": ("entries_fts",),
    "keypoints": ("keypoints", "sqlite_autoindex_keypoints"),
    "sources": ("sources", "sqlite_autoindex_sources"),
    "meta": ("meta", "sqlite_autoindex_meta"),
}
"""Components of the database file, by table (and index) name prefix; the rest counts as ``sqlite_other``."""


def store_usage(root: str | Path) -> dict[str, int]:
    """Bytes of a store directory by component.

    Args:
        root: the store directory (read only; nothing is written).

    Returns:
        ``{"total", "sqlite", "sqlite_free", "sqlite_<table group>"..., "entries_<column>"...,
        "index_files", "keyframes", "other_files"}`` in bytes; the ``sqlite_*`` and ``entries_*``
        parts are missing when the database cannot be read that way.
    """
    root = Path(root)
    out = {"total": 0, "sqlite": 0, "index_files": 0, "keyframes": 0, "other_files": 0}
    db_path = root / DB_NAME
    if db_path.is_file():
        db = sqlite3.connect(f"file:{quote(str(db_path.resolve()))}?mode=ro", uri=True)
        try:
            out.update(_database_parts(db))
        except sqlite3.DatabaseError:
            pass  # no dbstat in this SQLite build: the file total stands alone
        finally:
            db.close()
    for path in root.rglob("*"):  # after reading: a read may leave the WAL's -shm file behind
        if not path.is_file():
            continue
        size = path.stat().st_size
        out["total"] += size
        part = path.relative_to(root).parts[0]
        key = {"index": "index_files", "keyframes": "keyframes", DB_NAME: "sqlite"}.get(part, "other_files")
        out[key] += size
    return out


def _database_parts(db: sqlite3.Connection) -> dict[str, int]:
    page = int(db.execute("PRAGMA page_size").fetchone()[0])
    out = {"sqlite_free": page * int(db.execute("PRAGMA freelist_count").fetchone()[0])}
    for name, size in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        group = next((g for g, prefixes in TABLE_GROUPS.items() if name.startswith(prefixes)), "other")
        out[f"sqlite_{group}"] = out.get(f"sqlite_{group}", 0) + int(size)
    row = db.execute(
        "SELECT SUM(COALESCE(length(vector), 0)), SUM(COALESCE(length(frames), 0)), "
        "SUM(COALESCE(length(tvector), 0)), SUM(length(CAST(text AS BLOB)) + length(CAST(extra AS BLOB))) FROM entries"
    ).fetchone()
    for column, value in zip(("vectors", "frame_vectors", "text_vectors", "text_and_extra"), row, strict=True):
        out[f"entries_{column}"] = int(value or 0)
    return out
