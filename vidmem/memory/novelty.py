"""Encoder-agnostic novelty: how unusual a change is, relative to the stream's own changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class NoveltyMeter:
    """Robust statistics of recent cosine distances between consecutive vectors.

    A distance is *novel* when it exceeds ``median + k * 1.4826 * MAD`` of the last ``window``
    distances (and an absolute floor). Median and MAD ignore the rare large jumps themselves, so a
    stream full of cuts does not raise its own threshold, and no threshold is tuned per encoder.

    Args:
        k: robust standard deviations above the median that count as novel.
        floor: distances below this are never novel (static video).
        window: how many recent distances the statistics cover.
        warmup: distances seen before any verdict is given.
    """

    k: float = 3.0
    floor: float = 0.02
    window: int = 64
    warmup: int = 4
    recent: list[float] = field(default_factory=list)

    def threshold(self) -> float:
        if not self.recent:
            return self.floor
        values = np.asarray(self.recent)
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median)))
        return max(self.floor, median + self.k * 1.4826 * mad)

    def is_novel(self, distance: float) -> bool:
        """Whether ``distance`` is novel; it also joins the statistics."""
        novel = len(self.recent) >= self.warmup and distance > self.threshold()
        self.update(distance)
        return novel

    def update(self, distance: float) -> None:
        self.recent.append(float(distance))
        del self.recent[: -self.window]

    def state(self) -> list[float]:
        return list(self.recent)

    def load(self, values: list[float]) -> None:
        self.recent = [float(v) for v in values]


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cos(a, b) for ``float [D]`` vectors (not necessarily unit)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0
    return 1.0 - float(np.dot(a, b)) / (na * nb)


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)
