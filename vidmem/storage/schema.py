"""SQLite schema of a store directory, and (de)serialisation of vectors and pipeline state."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
DB_NAME = "store.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    duration REAL,
    settings TEXT NOT NULL,
    status TEXT NOT NULL,
    next_clip INTEGER NOT NULL DEFAULT 0,
    state BLOB,
    updated REAL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    store TEXT NOT NULL,
    scale TEXT NOT NULL,
    t_start REAL NOT NULL,
    t_end REAL NOT NULL,
    vector BLOB,
    frames BLOB,
    tvector BLOB,
    keyframe TEXT,
    text TEXT NOT NULL DEFAULT '',
    encoder TEXT NOT NULL DEFAULT '',
    written_at REAL NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS entries_by_group ON entries(store, scale, source_id, t_start);
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(
    text, content='entries', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS entries_ai AFTER INSERT ON entries WHEN new.text != '' BEGIN
    INSERT INTO entries_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS entries_ad AFTER DELETE ON entries WHEN old.text != '' BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS entries_au AFTER UPDATE OF text ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, text) SELECT 'delete', old.id, old.text WHERE old.text != '';
    INSERT INTO entries_fts(rowid, text) SELECT new.id, new.text WHERE new.text != '';
END;
"""

LOCAL_FEATURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS keypoints (
    source_id INTEGER NOT NULL,
    t_first REAL NOT NULL,
    times BLOB NOT NULL,
    counts BLOB NOT NULL,
    points BLOB NOT NULL,
    descriptors BLOB NOT NULL,
    PRIMARY KEY (source_id, t_first)
);
CREATE TRIGGER IF NOT EXISTS keypoints_ad AFTER DELETE ON sources BEGIN
    DELETE FROM keypoints WHERE source_id = old.id;
END;
"""
"""ORB keypoints of one frame per clip, one row per ingest checkpoint (``vidmem.storage.local_features``);
older stores get the table on ingest."""
SCHEMA += LOCAL_FEATURES_SCHEMA


def vector_to_blob(vector: np.ndarray | None) -> bytes | None:
    """``float [D]`` -> float16 bytes (None stays None)."""
    if vector is None:
        return None
    return np.asarray(vector, dtype=np.float16).tobytes()


def blob_to_vector(blob: bytes | None) -> np.ndarray | None:
    """float16 bytes -> ``float32 [D]``."""
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


def pack_state(state: dict[str, Any]) -> bytes:
    """Pipeline state -> bytes: arrays go to an ``.npz`` (no pickle), the rest to JSON inside it.

    ``state`` maps names to JSON-able values or numpy arrays, one level deep.
    """
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    buf = io.BytesIO()
    np.savez(buf, __json__=np.frombuffer(json.dumps(plain).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def unpack_state(blob: bytes) -> dict[str, Any]:
    """Inverse of :func:`pack_state`; never unpickles."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        state: dict[str, Any] = json.loads(bytes(data["__json__"]).decode())
        for key in data.files:
            if key != "__json__":
                state[key] = data[key]
    return state
