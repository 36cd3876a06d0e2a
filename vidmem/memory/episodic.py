"""Episodic memory above the clip: windows at several time scales, cut where content changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidmem.memory.novelty import unit
from vidmem.types import MemoryEntry


def scale_name(seconds: float) -> str:
    """30.0 -> ``30s``; the scale label used in stores and evidence (``episodic@30s``)."""
    return f"{seconds:g}s"


@dataclass(frozen=True)
class EpisodicConfig:
    """Scales and cut rules of the episodic store.

    Attributes:
        scales: target window lengths in seconds above the clip (WorldMM uses 30 s, 3 min, 10 min).
        min_fraction: a window may close at a content change once it spans this fraction of its target.
        max_fraction: a window always closes at this fraction of its target.
        max_text_chars: text kept per window (the start of each distinct line, in order).
    """

    scales: tuple[float, ...] = (30.0, 180.0, 600.0)
    min_fraction: float = 0.5
    max_fraction: float = 1.5
    max_text_chars: int = 4000

    def __post_init__(self) -> None:
        if len(self.scales) < 1 or any(s <= 0 for s in self.scales):
            raise ValueError(f"episodic scales must be positive seconds, got {self.scales}")
        if list(self.scales) != sorted(self.scales):
            raise ValueError(f"episodic scales must be increasing, got {self.scales}")
        if not 0 < self.min_fraction <= 1 <= self.max_fraction:
            raise ValueError("need 0 < min_fraction <= 1 <= max_fraction")


@dataclass
class _Window:
    t_start: float
    t_end: float
    vsum: np.ndarray
    n: int = 0
    texts: list[str] = field(default_factory=list)
    keyframe: str | None = None


class EpisodicBuilder:
    """Folds clip entries into windows at each scale; returns windows as they close.

    A window closes when it reaches ``max_fraction`` of its scale, or earlier (past
    ``min_fraction``) when the incoming clip is visually novel, so cuts follow content changes.
    """

    def __init__(self, config: EpisodicConfig, dim: int, source: str = "", encoder: str = "") -> None:
        self.config = config
        self.dim = dim
        self.source = source
        self.encoder = encoder
        self._open: list[_Window | None] = [None] * len(config.scales)

    def add(self, clip: MemoryEntry, novel: bool) -> list[MemoryEntry]:
        """Adds one clip entry (``vector`` float32 [D]); returns windows closed before it."""
        closed = []
        for i, target in enumerate(self.config.scales):
            win = self._open[i]
            if win is not None:
                span = clip.t_start - win.t_start
                too_long = clip.t_end - win.t_start > self.config.max_fraction * target + 1e-9
                if too_long or (novel and span >= self.config.min_fraction * target):
                    closed.append(self._close(i))
                    win = None
            if win is None:
                win = self._open[i] = _Window(clip.t_start, clip.t_end, np.zeros(self.dim, np.float32))
            win.t_end = clip.t_end
            win.vsum += clip.vector
            win.n += 1
            if clip.text and clip.text not in win.texts:
                win.texts.append(clip.text)
            if win.keyframe is None or win.n <= 2:
                win.keyframe = clip.keyframe or win.keyframe
        return closed

    def flush(self) -> list[MemoryEntry]:
        """Closes every open window (end of stream)."""
        return [self._close(i) for i, w in enumerate(self._open) if w is not None]

    def _close(self, i: int) -> MemoryEntry:
        win = self._open[i]
        assert win is not None
        self._open[i] = None
        text = _join_limited(win.texts, self.config.max_text_chars)
        return MemoryEntry(
            store="episodic", scale=scale_name(self.config.scales[i]), t_start=win.t_start, t_end=win.t_end,
            vector=unit(win.vsum), keyframe=win.keyframe, text=text, source=self.source,
            encoder=self.encoder, extra={"clips": win.n},
        )  # fmt: skip

    def state(self) -> dict:
        """JSON-and-array state for resuming (see ``vidmem.storage.schema.pack_state``)."""
        out: dict = {}
        for i, w in enumerate(self._open):
            if w is None:
                continue
            out[f"episodic{i}"] = {"t": [w.t_start, w.t_end], "n": w.n, "texts": w.texts, "kf": w.keyframe}
            out[f"episodic{i}_vsum"] = w.vsum
        return out

    def load_state(self, state: dict) -> None:
        for i in range(len(self.config.scales)):
            meta = state.get(f"episodic{i}")
            if meta is None:
                continue
            self._open[i] = _Window(
                meta["t"][0], meta["t"][1], np.asarray(state[f"episodic{i}_vsum"], np.float32).copy(),
                meta["n"], list(meta["texts"]), meta["kf"],
            )  # fmt: skip


def _join_limited(texts: list[str], limit: int) -> str:
    out, used = [], 0
    for t in texts:
        if used + len(t) > limit:
            break
        out.append(t)
        used += len(t) + 1
    return " ".join(out)
