"""Keypoints of one frame per clip, written with each ingest checkpoint (see ``vidmem.agent.image_search``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidmem.storage.local_features import ensure_table, insert_features, record_channel
from vidmem.types import Clip


class KeypointWriter:
    """Describes each clip's middle frame (the keyframe candidate) with ORB and buffers the rows.

    Args:
        features: an ``encoders.local_features.LocalFeatures`` (its defaults are what queries use).
    """

    def __init__(self, features) -> None:
        self.features = features
        self.pending: list[tuple[float, np.ndarray, np.ndarray]] = []

    def add(self, clips: Sequence[Clip]) -> None:
        for clip in clips:
            if len(clip.frames) == 0:
                continue
            mid = len(clip.frames) // 2
            t = float(clip.timestamps[mid]) if len(clip.timestamps) else clip.t_start
            points, descriptors = self.features.describe(clip.frames[mid])
            if len(descriptors):
                self.pending.append((t, points, descriptors))

    def flush(self, db, source_id: int) -> None:
        """Writes the buffered rows (call inside the checkpoint's transaction, so they resume with it)."""
        if self.pending:
            ensure_table(db)
            record_channel(db, self.features.config.channel)
            insert_features(db, source_id, self.pending)
        self.pending = []
