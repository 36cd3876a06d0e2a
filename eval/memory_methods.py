"""Memories compared by ``vidmem eval memory``, and the metrics that need no pretrained semantics.

Every method holds the same number of vectors of the same encoder and dtype (the byte budget):
``uniform`` keeps frames evenly spaced over the video, ``fifo`` the most recent frames,
``moviechat`` merges the most similar adjacent pair until the budget is met (MovieChat's
short-term memory consolidation), and ``vidmem`` is the store's own clip memory. A memory locates
a query vector at the centre of its nearest entry; event boundaries come from the same novelty
statistic the episodic writer cuts windows with, over the memory's adjacent entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidmem.memory.novelty import cosine_distance

METHODS = ("vidmem", "uniform", "fifo", "moviechat")
TIME_BYTES = 8  # two float32 times per entry


@dataclass
class VectorMemory:
    """Entries in time order.

    Attributes:
        t_start: ``float [N]`` seconds. t_end: ``float [N]`` seconds.
        vectors: ``float32 [N,D]`` unit vectors (float16 when stored).
    """

    t_start: np.ndarray
    t_end: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.t_start)

    @property
    def nbytes(self) -> int:
        """Stored size: float16 vectors plus two float32 times per entry."""
        return int(self.vectors.shape[0] * (self.vectors.shape[1] * 2 + TIME_BYTES))

    def locate(self, vector: np.ndarray) -> float:
        """Centre time (s) of the entry nearest to ``vector`` (``float [D]``)."""
        i = int(np.argmax(self.vectors @ vector))
        return float(0.5 * (self.t_start[i] + self.t_end[i]))

    def boundaries(self, k: float = 3.0, floor: float = 0.02) -> list[float]:
        """Times between adjacent entries whose distance is novel for this memory.

        The writer's novelty statistic (median + ``k`` robust standard deviations of the
        distances, at least ``floor``) over all adjacent distances at once, so short memories
        need no warm-up and every method is cut by the same rule.
        """
        if len(self) < 3:
            return []
        d = np.array([cosine_distance(self.vectors[i - 1], self.vectors[i]) for i in range(1, len(self))])
        median = float(np.median(d))
        threshold = max(floor, median + k * 1.4826 * float(np.median(np.abs(d - median))))
        return [float(0.5 * (self.t_end[i] + self.t_start[i + 1])) for i in np.flatnonzero(d > threshold)]


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def uniform(times: np.ndarray, vectors: np.ndarray, budget: int, step: float) -> VectorMemory:
    """``budget`` frames evenly spaced over the video (``times`` float [T], ``vectors`` [T,D])."""
    idx = np.unique(np.linspace(0, len(times) - 1, min(budget, len(times))).round().astype(int))
    return VectorMemory(times[idx], times[idx] + step, vectors[idx])


def fifo(times: np.ndarray, vectors: np.ndarray, budget: int, step: float) -> VectorMemory:
    """The last ``budget`` frames: what a first-in-first-out buffer holds at the end."""
    return VectorMemory(times[-budget:], times[-budget:] + step, vectors[-budget:])


def moviechat(times: np.ndarray, vectors: np.ndarray, budget: int, step: float) -> VectorMemory:
    """Merges the most similar adjacent pair (count-weighted mean) until ``budget`` entries remain."""
    starts, ends = list(times.astype(float)), list((times + step).astype(float))
    sums = [v.astype(np.float64) for v in vectors]
    while len(sums) > max(1, budget):
        units = _unit(np.stack(sums))
        i = int(np.argmax(np.sum(units[:-1] * units[1:], axis=1)))
        sums[i] = sums[i] + sums.pop(i + 1)  # sum of frame vectors = count-weighted mean direction
        ends[i] = ends.pop(i + 1)
        starts.pop(i + 1)
    return VectorMemory(np.array(starts), np.array(ends), _unit(np.stack(sums)))


BASELINES = {"uniform": uniform, "fifo": fifo, "moviechat": moviechat}


def boundary_f1(predicted: list[float], truth: list[float], tolerance: float) -> dict[str, float]:
    """Precision, recall and F1 of predicted boundary times, each truth matched at most once."""
    unmatched = sorted(truth)
    hits = 0
    for t in sorted(predicted):
        near = [u for u in unmatched if abs(u - t) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda u: abs(u - t)))
            hits += 1
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def sort_pairs(duration: float, n: int, clip: float, gap: float, seed: int = 0) -> list[tuple[float, float]]:
    """``n`` pairs of clip start times (earlier, later), the later starting ``gap`` s after the earlier ends."""
    rng = np.random.default_rng(seed)
    latest = duration - clip - 0.1
    if latest - (clip + gap) < 0:
        return []
    pairs = []
    for _ in range(n):
        a = float(rng.uniform(0.0, latest - clip - gap))
        b = float(rng.uniform(a + clip + gap, latest))
        pairs.append((round(a, 2), round(b, 2)))
    return pairs


def sort_accuracy(located: list[tuple[float, float]]) -> float | None:
    """Fraction of pairs whose located times keep the true order (a tie is wrong)."""
    if not located:
        return None
    return round(sum(a < b for a, b in located) / len(located), 4)
