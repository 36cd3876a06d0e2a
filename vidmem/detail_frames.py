"""Detail frames: more frame vectors where the footage changes fast.

A clip keeps one frame vector per sampled frame (1 fps by default). In a fast pan (a cyclist's
camera sweeping past a taxi sign) frames 0.2 s apart share little, so an image query taken between
two samples matches neither, and look-alike footage elsewhere outranks its clip. Here the video is
sampled ``ratio`` times finer; the grid frames go on as before (clips, mean vectors, keyframes,
keypoints and text are unchanged) and each in-between frame is described too, but kept only when
its cosine to the last frame kept (the grid frame before it, or a detail frame) is below
``cosine``. Still or slow footage keeps none; a fast pan keeps most. Kept vectors join the clip's
frame vectors, which image search scores frame by frame (``MemoryReader.search_image``).

Measured on the needle benchmark's joined hour of real footage (kitchen, boats, bikes, cartoon,
phone video, and their mirrored and recoloured copies): 0.36 detail frames per second of video,
the store 14.11 MB per video-hour instead of 13.02; the generated bench video (signs on still
scenes) keeps none. Describing an in-between frame costs ~0.3 ms with the classical descriptor;
decoding at 5 fps ~15-20 % more than at 1 fps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # vidmem.io loads OpenCV; a text question imports this module without decoding
    from vidmem.io.sampler import SampledFrame

DETAIL_FPS = 5.0
"""Frames per second looked at for detail frames (a multiple of the sampling rate)."""
DETAIL_COSINE = 0.85
"""An in-between frame is kept when its cosine to the last kept frame is below this."""


def detail_ratio(detail_fps: float, fps: float) -> int:
    """How many times finer than ``fps`` to sample for ``detail_fps`` (0: no detail frames).

    Raises:
        ValueError: ``detail_fps`` is not 0 or a whole multiple (>= 2) of ``fps``.
    """
    if detail_fps == 0:
        return 0
    ratio = detail_fps / fps
    if ratio < 2 - 1e-6 or abs(ratio - round(ratio)) > 1e-6:
        raise ValueError(f"detail_fps must be 0 or a whole multiple (>= 2) of fps {fps:g}, got {detail_fps:g}")
    return round(ratio)


def detail_splitter(encoder, detail_fps: float | None, fps: float, clip_seconds: float) -> DetailFrames | None:
    """The splitter an ingest uses, or None; ``detail_fps`` None: ``DETAIL_FPS`` for the classical
    descriptor, none for learned encoders (a frame costs them ~100x more)."""
    from encoders.classical import ClassicalEncoder

    if detail_fps is None:
        detail_fps = DETAIL_FPS if isinstance(encoder, ClassicalEncoder) else 0.0
    ratio = detail_ratio(detail_fps, fps)
    return DetailFrames(encoder, ratio, round(clip_seconds * fps)) if ratio else None


class DetailFrames:
    """Splits a ``ratio`` times finer sampling into grid frames and per-clip detail vectors.

    Args:
        encoder: describes frames (``encode_images`` giving unit vectors).
        ratio: samples of the finer sampling per grid step.
        per_clip: grid frames per clip (clip ``i`` holds grid indices ``i * per_clip`` onwards).
        cosine: see ``DETAIL_COSINE``.
    """

    def __init__(self, encoder, ratio: int, per_clip: int, cosine: float = DETAIL_COSINE) -> None:
        self.encoder, self.ratio, self.per_clip, self.cosine = encoder, ratio, per_clip, cosine
        self._kept: dict[int, list[np.ndarray]] = {}

    def grid(self, frames: Iterable[SampledFrame]) -> Iterator[SampledFrame]:
        """The grid frames of ``frames`` (renumbered on the coarse grid); detail vectors are kept aside.

        A clip's detail vectors are all kept before its last grid frame's successor is yielded, so
        they are complete by the time ``chunk_clips`` hands the clip on.
        """
        from vidmem.io.sampler import SampledFrame

        last: np.ndarray | None = None
        for f in frames:
            vector = self.encoder.encode_images(f.image[None])[0]
            if f.k % self.ratio == 0:
                last = vector
                yield SampledFrame(f.k // self.ratio, f.t, f.pts, f.image)
            elif last is not None and float(vector @ last) < self.cosine:
                self._kept.setdefault(f.k // self.ratio // self.per_clip, []).append(vector)
                last = vector

    def take(self, clip_index: int) -> np.ndarray | None:
        """``float32 [N,D]`` detail vectors of one clip (forgotten here), or None when it kept none."""
        kept = self._kept.pop(clip_index, None)
        return None if not kept else np.stack(kept).astype(np.float32)
