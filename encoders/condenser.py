"""Streaming clip condenser (VideoStreaming): each clip becomes K memory tokens.

A clip's frame features ``float32 [T,D]`` are condensed into ``K`` tokens ``float32 [K,D]``,
conditioned on the previous clip's tokens (memory propagation), so a token carries what stayed
the same across clips and a cut shows up as tokens that move.

- ``kmeans`` (training-free, the default): k-means over the clip's frames together with the
  previous tokens, seeded by the previous tokens (the first clip seeds by farthest points).
- ``learned``: a small transformer whose K queries (plus the previous tokens) attend over the
  frame features and the previous tokens; trained self-supervised on unlabeled video features by
  ``train_condenser`` (reconstruct the clip's frames from its tokens, predict the next clip's mean
  feature, keep every frame near a token so frame-space queries find tokens). It loads only from a
  checkpoint; there are no random-weight fallbacks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from encoders.registry import Registry


class Condenser(Protocol):
    """Turns one clip's frame features into K tokens, given the previous clip's tokens."""

    name: str
    tokens: int

    def condense(self, frames: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """``frames`` float32 [T,D], ``previous`` float32 [K,D] or None -> float32 [K,D] unit rows."""
        ...


CONDENSERS: Registry[Condenser] = Registry("condenser")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class KMeansCondenserConfig:
    """Training-free condenser.

    Attributes:
        tokens: K, tokens per clip (4-16).
        iterations: Lloyd iterations per clip.
        memory_weight: weight of each previous token among the clip's frames (how strongly the
            memory persists; 0 forgets it except as the seed).
    """

    tokens: int = 8
    iterations: int = 5
    memory_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 4 <= self.tokens <= 16:
            raise ValueError(f"tokens must be in 4..16, got {self.tokens}")
        if self.iterations < 1 or self.memory_weight < 0:
            raise ValueError("iterations must be >= 1 and memory_weight >= 0")


class KMeansCondenser:
    """k-means over frames and previous tokens, seeded by the previous tokens."""

    name = "kmeans"

    def __init__(self, config: KMeansCondenserConfig) -> None:
        self.config = config
        self.tokens = config.tokens

    def condense(self, frames: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        frames = _unit(np.asarray(frames, np.float32))
        if previous is None:
            points, weights, centres = frames, np.ones(len(frames)), _farthest_points(frames, self.tokens)
        else:
            previous = _unit(np.asarray(previous, np.float32))
            points = np.concatenate([frames, previous])
            weights = np.concatenate([np.ones(len(frames)), np.full(len(previous), self.config.memory_weight)])
            centres = previous.copy()
        for _ in range(self.config.iterations):
            label = np.argmax(points @ centres.T, axis=1)
            for k in range(self.tokens):
                w = weights * (label == k)
                if w.sum() > 0:  # an empty cluster keeps its seed: the memory of something not seen now
                    centres[k] = (w[:, None] * points).sum(axis=0)
            centres = _unit(centres)
        return centres


def _farthest_points(points: np.ndarray, k: int) -> np.ndarray:
    """k seeds: the first frame, then repeatedly the frame farthest from every seed (cycling when T < k)."""
    chosen = [0]
    while len(chosen) < min(k, len(points)):
        similarity = (points @ points[chosen].T).max(axis=1)
        chosen.append(int(np.argmin(similarity)))
    chosen += [chosen[i % len(chosen)] for i in range(k - len(chosen))]
    return points[chosen].copy()


@CONDENSERS.register("kmeans", KMeansCondenserConfig)
def _build_kmeans(config: KMeansCondenserConfig) -> KMeansCondenser:
    return KMeansCondenser(config)


@dataclass(frozen=True)
class LearnedCondenserConfig:
    """A trained condenser.

    Attributes:
        checkpoint: file written by ``vidmem train-condenser`` (holds K, widths and weights).
    """

    checkpoint: str = ""

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ValueError("the learned condenser needs a checkpoint; train one with `vidmem train-condenser`")


@dataclass(frozen=True)
class CondenserNetConfig:
    """Architecture of the learned condenser (saved in its checkpoint)."""

    dim: int
    tokens: int = 8
    width: int = 128
    heads: int = 4
    layers: int = 2
    max_frames: int = 64

    def __post_init__(self) -> None:
        if not 4 <= self.tokens <= 16:
            raise ValueError(f"tokens must be in 4..16, got {self.tokens}")
        if self.dim < 1 or self.width % self.heads:
            raise ValueError("dim must be >= 1 and width a multiple of heads")


def build_net(config: CondenserNetConfig):
    """The torch module (import inside: torch is needed only for the learned condenser)."""
    from encoders._condenser_net import CondenserNet

    return CondenserNet(config)


class LearnedCondenser:
    """Runs a trained ``CondenserNet`` on one clip at a time (CPU, no gradients)."""

    name = "learned"

    def __init__(self, config: LearnedCondenserConfig) -> None:
        import torch

        path = Path(config.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"condenser checkpoint not found: {path} (train one with `vidmem train-condenser`)")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.net_config = CondenserNetConfig(**saved["config"])
        self.net = build_net(self.net_config)
        self.net.load_state_dict(saved["state_dict"])
        self.net.eval()
        self.tokens = self.net_config.tokens
        self.config = config

    def condense(self, frames: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        import torch

        if frames.shape[-1] != self.net_config.dim:
            raise ValueError(f"condenser expects {self.net_config.dim}-d features, got {frames.shape[-1]}-d")
        with torch.no_grad():
            x = torch.from_numpy(_unit(frames[-self.net_config.max_frames :]))[None]
            prev = None if previous is None else torch.from_numpy(_unit(previous))[None]
            return self.net.condense(x, prev)[0].numpy().astype(np.float32)


@CONDENSERS.register("learned", LearnedCondenserConfig)
def _build_learned(config: LearnedCondenserConfig) -> LearnedCondenser:
    return LearnedCondenser(config)


def build_condenser(spec: Any, **overrides: Any) -> Condenser:
    """From a name (``kmeans``), a config, or a checkpoint path (``*.pt`` -> ``learned``)."""
    if isinstance(spec, str) and spec.endswith(".pt"):
        return CONDENSERS.build("learned", checkpoint=spec, **overrides)
    return CONDENSERS.build(spec, **overrides)


def condenser_id(condenser: Condenser) -> dict[str, Any]:
    """What a store records about its condenser (resume must use the same one)."""
    config = getattr(condenser, "config", None)
    return {"name": condenser.name, "tokens": condenser.tokens, "config": asdict(config) if config else {}}


def coverage(condenser: Condenser, clips: list[np.ndarray]) -> float:
    """Mean over a stream's frames of the cosine to the nearest token of their clip (tokens streamed)."""
    previous, scores = None, []
    for frames in clips:
        previous = condenser.condense(frames, previous)
        scores.extend((_unit(frames) @ previous.T).max(axis=1).tolist())
    return round(float(np.mean(scores)), 4)


def train_condenser(
    videos: list[list[np.ndarray]], tokens: int = 8, epochs: int = 30, seed: int = 0, out: str | Path | None = None,
    **net: Any,
) -> dict[str, Any]:  # fmt: skip
    """Trains a ``CondenserNet`` on unlabeled clips: ``videos[v][c]`` is ``float32 [T,D]`` frames of clip c.

    Self-supervised: each clip's tokens (given the previous clip's tokens) must reconstruct the
    clip's frames and predict the next clip's mean feature. Returns the losses (first and last
    epoch) and, when ``out`` is given, saves the checkpoint there.
    """
    from encoders._condenser_net import fit

    dims = {c.shape[-1] for v in videos for c in v}
    if len(dims) != 1:
        raise ValueError(f"clips must share one feature size, got {sorted(dims)}")
    config = CondenserNetConfig(dim=dims.pop(), tokens=tokens, **net)
    net_module, losses = fit(config, videos, epochs, seed)
    if out is not None:
        import torch

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"config": asdict(config), "state_dict": net_module.state_dict()}, out)
    return {"first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4), "epochs": epochs, **asdict(config)}
