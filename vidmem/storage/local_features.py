"""Local features kept in the store: ORB keypoints of one frame per clip, for verifying image queries.

Frames are keyed by (source, time of the frame), not by entry id, so clip consolidation (which
replaces clip entries) leaves them valid; a trigger drops a source's rows with the source. One row
holds a whole ingest checkpoint's frames (times, keypoint counts, float16 x/y, 32-byte ORB
descriptors): a row per frame (~2.3 KB) would fill a 4 KB SQLite page alone and waste ~40 %.
About 96 keypoints x 36 bytes per 2 s clip: ~6.2 MB per video-hour.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import numpy as np

from vidmem.storage.schema import LOCAL_FEATURES_SCHEMA

TABLE = "keypoints"
META = "local_features"
"""Meta key recording how the store's keypoints were made (``{"channel": "value"}``)."""


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


def recorded_channel(db) -> str:
    """The grey channel the store's keypoints were found on, so later ones (and queries) match them.

    Stores whose keypoints predate the record used luma; a store without keypoints takes the default.
    """
    row = db.execute("SELECT value FROM meta WHERE key=?", (META,)).fetchone()
    if row is not None:
        return str(json.loads(row[0]).get("channel", "luma"))
    older = has_table(db) and db.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchone() is not None
    return "luma" if older else "value"


def record_channel(db, channel: str) -> None:
    """Records the channel once (inside the transaction that writes the first keypoints)."""
    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (META, json.dumps({"channel": channel})))


def ensure_table(db) -> None:
    """Adds the table to a store created before it existed (safe inside an open transaction)."""
    # executescript would COMMIT an open transaction; run the statements one at a time instead.
    statement = ""
    for line in LOCAL_FEATURES_SCHEMA.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def insert_features(db, source_id: int, frames: list[tuple[float, np.ndarray, np.ndarray]]) -> None:
    """Writes ``(t, points float32 [N,2], descriptors uint8 [N,32])`` frames as one row (inside a transaction)."""
    if not frames:
        return
    db.execute(
        f"INSERT OR REPLACE INTO {TABLE}(source_id, t_first, times, counts, points, descriptors) VALUES (?,?,?,?,?,?)",
        (
            source_id, float(frames[0][0]), np.array([t for t, _, _ in frames], np.float64).tobytes(),
            np.array([len(d) for _, _, d in frames], np.uint16).tobytes(),
            np.concatenate([np.asarray(p, np.float16).reshape(-1, 2) for _, p, _ in frames]).tobytes(),
            np.concatenate([np.asarray(d, np.uint8).reshape(-1, 32) for _, _, d in frames]).tobytes(),
        ),
    )  # fmt: skip


def load_features(db) -> FeatureRows | None:
    """Every stored frame of the store, or None when it has none (or predates local features)."""
    if not has_table(db):
        return None
    rows = db.execute(f"SELECT source_id, times, counts, points, descriptors FROM {TABLE} ORDER BY source_id, t_first")
    sources, times, counts, points, descriptors = [], [], [], [], []
    for source_id, t, c, p, d in rows:
        times.append(np.frombuffer(t, np.float64))
        counts.append(np.frombuffer(c, np.uint16).astype(np.int64))
        sources.append(np.full(len(times[-1]), source_id, np.int64))
        points.append(np.frombuffer(p, np.float16).astype(np.float32).reshape(-1, 2))
        descriptors.append(np.frombuffer(d, np.uint8).reshape(-1, 32))
    if not times:
        return None
    count = np.concatenate(counts)
    return FeatureRows(
        source_id=np.concatenate(sources), t=np.concatenate(times), start=np.concatenate([[0], np.cumsum(count)]),
        points=np.concatenate(points), descriptors=np.concatenate(descriptors),
        owner=np.repeat(np.arange(len(count)), count),
    )  # fmt: skip


def feature_bytes(db) -> int:
    """Bytes of keypoint payload in the store (for the bytes-per-hour figure)."""
    if not has_table(db):
        return 0
    row = db.execute(
        f"SELECT COALESCE(SUM(length(times) + length(counts) + length(points) + length(descriptors)), 0) FROM {TABLE}"
    ).fetchone()
    return int(row[0])
