"""Keypoints of a clip's frames, written with each ingest checkpoint (see ``vidmem.agent.image_search``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidmem.storage.local_features import ensure_table, insert_features
from vidmem.types import Clip

NOVEL_INLIERS = 16
"""A clip's other frame is kept too when it shares fewer geometric inliers than this with every frame
kept for the clip (of 96 corners each): the camera moved or the shot changed inside the clip, so the
middle frame alone cannot verify a query of it. Measured on the real videos (2 frames per clip at
1 fps): kept for 67 % of kitchen's clips, 60 % of bikes', every carphone clip, none of boats',
bigbuckbunny's or scene_cuts', and none on the generated bench video (median 73 inliers between a
clip's frames), so the bytes per video-hour there do not change."""


class KeypointWriter:
    """Describes each clip's middle frame (the keyframe candidate) with ORB, and any other frame of the
    clip that the frames kept so far do not cover, and buffers the rows.

    Args:
        features: an ``encoders.local_features.LocalFeatures`` (its defaults are what queries use).
    """

    def __init__(self, features) -> None:
        self.features = features
        self.pending: list[tuple[float, np.ndarray, np.ndarray]] = []

    def add(self, clips: Sequence[Clip]) -> None:
        for clip in clips:
            n = len(clip.frames)
            if n == 0:
                continue
            mid = n // 2
            kept: list[tuple[float, np.ndarray, np.ndarray]] = []
            for i in [mid] + [i for i in range(n) if i != mid]:
                t = float(clip.timestamps[i]) if len(clip.timestamps) > i else clip.t_start
                described = self.features.describe(clip.frames[i])
                if not len(described[1]):
                    continue
                if kept and max(self._inliers(described, k[1:]) for k in kept) >= NOVEL_INLIERS:
                    continue
                kept.append((t, *described))
            self.pending.extend(sorted(kept, key=lambda row: row[0]))

    def _inliers(self, a, b) -> int:
        import cv2

        cv2.setRNGSeed(0)  # RANSAC's draws fixed: a resumed ingest keeps the same frames
        return self.features.inliers(a, b)

    def flush(self, db, source_id: int) -> None:
        """Writes the buffered rows (call inside the checkpoint's transaction, so they resume with it)."""
        if self.pending:
            ensure_table(db)
            insert_features(db, source_id, self.pending)
        self.pending = []
