"""``PolicyConfig``: the whole architecture of a ``MemoryPolicy`` in one frozen, JSON-able record."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from robot.memory import MEMORY_KINDS

HEADS = ("discrete", "diffusion", "random")
ALLOCATORS = ("fifo", "lifo", "least_visited", "most_visited", "learned")


@dataclass(frozen=True)
class PolicyConfig:
    """Architecture and inputs of a policy (checkpoints store it beside the weights).

    Attributes:
        name: the policy's name (registered preset name or a user's label).
        memory: ``bank``, ``spatial``, ``chunks`` or ``none``.
        head: ``discrete`` (navigation actions), ``diffusion`` (continuous action chunks) or
            ``random`` (uniform actions, no network).
        image_size: (H, W) of the ``rgb`` input, or None for policies without a camera.
        goal_dim: width G of the ``goal`` input.
        num_actions: discrete actions (navigation: stop, move_forward, turn_left, turn_right).
        action_dim: continuous action width (diffusion head).
        action_chunk: future actions predicted per step (diffusion head).
        dim: token width D.
        perceptual_tokens: perceptual tokens per observation P.
        capacity: entries per episode (bank and spatial memory).
        when_full: bank's full policy, ``merge`` or ``fifo``.
        allocator: spatial memory eviction: fifo, lifo, least_visited, most_visited or learned.
        spatial_k: nearest places the spatial memory retrieves.
        chunk_size: steps per HCAM chunk.
        max_chunks: chunks HCAM keeps (oldest dropped beyond it).
        top_k: chunks HCAM attends inside.
        diffusion_steps: training noise levels of the diffusion head.
        ddim_steps: DDIM sampling steps at inference.
        guidance: classifier-free guidance scale (1.0 = plain conditional sampling).
        cond_dropout: probability of dropping the condition in training (enables guidance).
        greedy: discrete head takes the argmax (else samples from the softmax).
        seed: initial weights and per-episode noise derive from it.
    """

    name: str = "custom"
    memory: str = "bank"
    head: str = "discrete"
    image_size: tuple[int, int] | None = (64, 64)
    goal_dim: int = 4
    num_actions: int = 4
    action_dim: int = 2
    action_chunk: int = 4
    dim: int = 64
    perceptual_tokens: int = 4
    capacity: int = 16
    when_full: str = "merge"
    allocator: str = "fifo"
    spatial_k: int = 8
    chunk_size: int = 8
    max_chunks: int = 128
    top_k: int = 2
    diffusion_steps: int = 50
    ddim_steps: int = 8
    guidance: float = 1.0
    cond_dropout: float = 0.1
    greedy: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
            if len(self.image_size) != 2 or min(self.image_size) < 16:
                raise ValueError(f"image_size must be (H, W) with both >= 16, got {self.image_size}")
        if self.memory not in MEMORY_KINDS:
            raise ValueError(f"memory must be one of {MEMORY_KINDS}, got {self.memory!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.allocator not in ALLOCATORS:
            raise ValueError(f"allocator must be one of {ALLOCATORS}, got {self.allocator!r}")
        for field in ("goal_dim", "num_actions", "action_dim", "action_chunk", "perceptual_tokens", "chunk_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
        if self.dim < 8 or self.dim % 2:
            raise ValueError(f"dim must be an even number >= 8, got {self.dim}")
        if not 1 <= self.top_k <= self.max_chunks:
            raise ValueError(f"top_k must be in [1, max_chunks={self.max_chunks}], got {self.top_k}")
        if not 1 <= self.ddim_steps <= self.diffusion_steps:
            raise ValueError(
                f"ddim_steps must be in [1, diffusion_steps={self.diffusion_steps}], got {self.ddim_steps}"
            )
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError(f"cond_dropout must be in [0, 1), got {self.cond_dropout}")

    def to_json(self) -> str:
        """The config as a JSON string (checkpoints store this, not a pickle)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicyConfig:
        """Inverse of ``to_json``; unknown fields are an error (a newer or foreign checkpoint)."""
        fields: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"policy config has unknown fields {unknown} (written by a newer vidmem?)")
        return cls(**fields)

    def architecture(self) -> dict[str, Any]:
        """The fields that decide the weights' shapes and meaning (what a checkpoint must match)."""
        skip = {"name", "ddim_steps", "guidance", "greedy", "seed"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    def input_spec(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Observation keys the policy reads: ``{key: (shape, dtype)}``."""
        spec: dict[str, tuple[tuple[int, ...], str]] = {}
        if self.image_size is not None:
            spec["rgb"] = ((*self.image_size, 3), "uint8")
        spec["gps_compass"] = ((3,), "float32")
        spec["goal"] = ((self.goal_dim,), "float32")
        return spec

    def output_spec(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Keys of each ``infer`` output: ``{key: (shape, dtype)}``."""
        if self.head == "diffusion":
            return {"actions": ((self.action_chunk, self.action_dim), "float32")}
        return {"actions": ((1,), "int64")}
