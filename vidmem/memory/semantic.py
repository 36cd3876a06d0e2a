"""Semantic memory: what recurs. Online concept prototypes over clip vectors.

Each clip joins its nearest prototype when similar enough, otherwise it starts a new one; when the
prototype budget is full the two closest prototypes merge. A prototype remembers how often and
where (runs of time) its concept was seen, which answers "how many times" and "first / last".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidmem.memory.novelty import unit
from vidmem.types import MemoryEntry


@dataclass(frozen=True)
class SemanticConfig:
    """Attributes:
    join_similarity: cosine at or above which a clip joins a prototype.
    max_prototypes: budget; beyond it the two closest prototypes merge.
    max_runs: occurrence runs kept per prototype (oldest merged away first).
    gap_seconds: a sighting within this gap of the last one extends the same run.
    """

    join_similarity: float = 0.9
    max_prototypes: int = 256
    max_runs: int = 512
    gap_seconds: float = 4.0

    def __post_init__(self) -> None:
        if not -1.0 <= self.join_similarity <= 1.0:
            raise ValueError("join_similarity must be a cosine in [-1, 1]")
        if self.max_prototypes < 2 or self.max_runs < 1:
            raise ValueError("max_prototypes must be >= 2 and max_runs >= 1")


class SemanticBuilder:
    """Maintains concept prototypes for one source; ``entries()`` exports them for the store."""

    def __init__(self, config: SemanticConfig, dim: int, source: str = "", encoder: str = "") -> None:
        self.config = config
        self.source = source
        self.encoder = encoder
        self.vecs = np.zeros((0, dim), np.float32)  # running sums, row per prototype
        self.counts: list[int] = []
        self.runs: list[list[list[float]]] = []
        self.keyframes: list[str | None] = []

    def add(self, clip: MemoryEntry) -> int:
        """Assigns a clip entry to a prototype; returns the prototype's index."""
        v = np.asarray(clip.vector, np.float32)
        if len(self.counts):
            sims = (self.vecs / np.linalg.norm(self.vecs, axis=1, keepdims=True)) @ v
            best = int(np.argmax(sims))
            if sims[best] >= self.config.join_similarity:
                self._extend(best, v, clip)
                return best
        if len(self.counts) >= self.config.max_prototypes:
            self._merge_closest()
        self.vecs = np.vstack([self.vecs, v[None]])
        self.counts.append(0)
        self.runs.append([])
        self.keyframes.append(clip.keyframe)
        self._extend(len(self.counts) - 1, v, clip, add_vec=False)
        return len(self.counts) - 1

    def _extend(self, i: int, v: np.ndarray, clip: MemoryEntry, add_vec: bool = True) -> None:
        if add_vec:
            self.vecs[i] += v
        self.counts[i] += 1
        runs = self.runs[i]
        if runs and clip.t_start - runs[-1][1] <= self.config.gap_seconds:
            runs[-1][1] = clip.t_end
        else:
            runs.append([clip.t_start, clip.t_end])
            if len(runs) > self.config.max_runs:
                runs[0:2] = [[runs[0][0], runs[1][1]]]

    def _merge_closest(self) -> None:
        normed = self.vecs / np.linalg.norm(self.vecs, axis=1, keepdims=True)
        sims = normed @ normed.T
        np.fill_diagonal(sims, -np.inf)
        a, b = divmod(int(np.argmax(sims)), len(self.counts))
        a, b = min(a, b), max(a, b)
        self.vecs[a] += self.vecs[b]
        self.counts[a] += self.counts[b]
        merged = sorted(self.runs[a] + self.runs[b])
        self.runs[a] = _union_runs(merged, self.config.gap_seconds)[-self.config.max_runs :]
        for seq in (self.counts, self.runs, self.keyframes):
            del seq[b]
        self.vecs = np.delete(self.vecs, b, axis=0)

    def entries(self) -> list[MemoryEntry]:
        """One semantic entry per prototype, times spanning first to last sighting."""
        out = []
        for i, count in enumerate(self.counts):
            runs = self.runs[i]
            out.append(
                MemoryEntry(
                    store="semantic",
                    scale="",
                    t_start=runs[0][0],
                    t_end=runs[-1][1],
                    vector=unit(self.vecs[i]),
                    keyframe=self.keyframes[i],
                    source=self.source,
                    encoder=self.encoder,
                    extra={"clips": count, "occurrences": [[round(a, 3), round(b, 3)] for a, b in runs]},
                )  # fmt: skip
            )
        return out

    def state(self) -> dict:
        return {
            "semantic": {"counts": self.counts, "runs": self.runs, "kf": self.keyframes},
            "semantic_vecs": self.vecs,
        }

    def load_state(self, state: dict) -> None:
        if "semantic" not in state:
            return
        meta = state["semantic"]
        self.counts, self.runs, self.keyframes = list(meta["counts"]), list(meta["runs"]), list(meta["kf"])
        self.vecs = np.asarray(state["semantic_vecs"], np.float32).copy()


def _union_runs(runs: list[list[float]], gap: float) -> list[list[float]]:
    out: list[list[float]] = []
    for a, b in runs:
        if out and a - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out
