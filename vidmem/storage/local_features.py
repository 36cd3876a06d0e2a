"""Local features kept in the store: ORB keypoints of one frame per clip, for verifying image queries.

Rows are keyed by (source, time of the frame), not by entry id, so clip consolidation (which
replaces clip entries) leaves them valid; a trigger drops a source's rows with the source. About
96 keypoints x 36 bytes per 2 s clip: ~6 MB per video-hour.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from vidmem.storage.schema import LOCAL_FEATURES_SCHEMA

TABLE = "local_features"


@dataclass
class FeatureRows:
    """Every stored frame's keypoints, flattened for search.

    Attributes:
        source_id: ``int [R]`` source of each frame row. t: ``float [R]`` its time, seconds.
        start: ``int [R+1]`` row r owns keypoints ``start[r]:start[r+1]``.
        points: ``float32 [N,2]``. descriptors: ``uint8 [N,32]``. owner: ``int [N]`` row of each keypoint.
    """

    source_id: np.ndarray
    t: np.ndarray
    start: np.ndarray
    points: np.ndarray
    descriptors: np.ndarray
    owner: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.start[r], self.start[r + 1]
        return self.points[a:b], self.descriptors[a:b]


def has_table(db) -> bool:
    """Whether the store was built with local features (older stores were not)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone() is not None


def ensure_table(db) -> None:
    """Adds the table to a store created before it existed (safe inside an open transaction)."""
    # executescript would COMMIT an open transaction; run the statements one at a time instead.
    statement = ""
    for line in LOCAL_FEATURES_SCHEMA.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def insert_features(db, source_id: int, rows: list[tuple[float, np.ndarray, np.ndarray]]) -> None:
    """Writes ``(t, points float32 [N,2], descriptors uint8 [N,32])`` rows (inside a transaction)."""
    db.executemany(
        f"INSERT OR REPLACE INTO {TABLE}(source_id, t, points, descriptors) VALUES (?, ?, ?, ?)",
        [
            (source_id, float(t), np.asarray(p, np.float16).tobytes(), np.ascontiguousarray(d, np.uint8).tobytes())
            for t, p, d in rows
        ],
    )


def load_features(db) -> FeatureRows | None:
    """All rows of the store, or None when it has none (or predates local features)."""
    if not has_table(db):
        return None
    rows = db.execute(f"SELECT source_id, t, points, descriptors FROM {TABLE} ORDER BY source_id, t").fetchall()
    if not rows:
        return None
    counts = np.array([len(r[3]) // 32 for r in rows], np.int64)
    start = np.concatenate([[0], np.cumsum(counts)])
    points = np.frombuffer(b"".join(r[2] for r in rows), np.float16).astype(np.float32).reshape(-1, 2)
    descriptors = np.frombuffer(b"".join(r[3] for r in rows), np.uint8).reshape(-1, 32)
    return FeatureRows(
        source_id=np.array([r[0] for r in rows], np.int64), t=np.array([r[1] for r in rows], np.float64),
        start=start, points=points, descriptors=descriptors, owner=np.repeat(np.arange(len(rows)), counts),
    )  # fmt: skip


def feature_bytes(db) -> int:
    """Bytes of keypoint payload in the store (for the bytes-per-hour figure)."""
    if not has_table(db):
        return 0
    row = db.execute(f"SELECT COALESCE(SUM(length(points) + length(descriptors)), 0) FROM {TABLE}").fetchone()
    return int(row[0])
