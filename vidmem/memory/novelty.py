"""Encoder-agnostic novelty: how unusual a change is, relative to the stream's own changes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NoveltyMeter:
    """Tracks an exponential mean and variance of cosine distances between consecutive vectors.

    A distance is *novel* when it exceeds ``mean + k * std`` of what the stream has shown so far
    (and an absolute floor), so thresholds need no tuning per encoder.

    Args:
        k: how many standard deviations above the mean count as novel.
        floor: distances below this are never novel (static video).
        alpha: weight of the newest distance in the running statistics.
        warmup: distances seen before any verdict is given.
    """

    k: float = 2.0
    floor: float = 0.02
    alpha: float = 0.1
    warmup: int = 4
    mean: float = 0.0
    var: float = 0.0
    seen: int = 0

    def threshold(self) -> float:
        return max(self.floor, self.mean + self.k * float(np.sqrt(self.var)))

    def is_novel(self, distance: float) -> bool:
        """Whether ``distance`` is novel; it also updates the statistics."""
        novel = self.seen >= self.warmup and distance > self.threshold()
        self.update(distance)
        return novel

    def update(self, distance: float) -> None:
        if self.seen == 0:
            self.mean, self.var = distance, 0.0
        else:
            delta = distance - self.mean
            self.mean += self.alpha * delta
            self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)
        self.seen += 1

    def state(self) -> list[float]:
        return [self.mean, self.var, float(self.seen)]

    def load(self, values: list[float]) -> None:
        self.mean, self.var, self.seen = float(values[0]), float(values[1]), int(values[2])


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cos(a, b) for ``float [D]`` vectors (not necessarily unit)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0
    return 1.0 - float(np.dot(a, b)) / (na * nb)


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)
