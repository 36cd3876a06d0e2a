"""Memory-conditioned policies: registered presets, ``load_policy`` and ``build_policy``.

Registered names: ``tiny`` (small UNTRAINED bank policy for tests and the server benchmark),
``bank``, ``spatial``, ``chunks`` (memory policies; ``spatial_learned``: spatial memory whose
evictions a trained Q-network chooses), ``nomemory`` (the same architecture without
memory) and ``random`` (uniform actions). Importing this package does not import torch.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from robot.policies.base import CheckpointError, EpisodeState, MemoryPolicy, ObservationError
from robot.policies.config import PolicyConfig

__all__ = [
    "PRESETS",
    "CheckpointError",
    "EpisodeState",
    "MemoryPolicy",
    "ObservationError",
    "PolicyConfig",
    "build_policy",
    "load_policy",
    "policy_config",
]

# Architecture presets (no weights). Memory agents share everything but the memory.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"memory": "bank", "dim": 32, "perceptual_tokens": 4, "capacity": 8},
    "bank": {"memory": "bank"},
    "spatial": {"memory": "spatial"},
    "spatial_learned": {"memory": "spatial", "allocator": "learned"},
    "chunks": {"memory": "chunks"},
    "nomemory": {"memory": "none"},
    "random": {"memory": "none", "head": "random"},
}


class UnknownPolicyError(ValueError):
    """A policy name that is neither a preset nor an existing checkpoint file."""


def policy_config(name: str, **overrides: Any) -> PolicyConfig:
    """The preset ``name``'s config with ``overrides`` (e.g. the env's ``image_size``, ``goal_dim``)."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownPolicyError(f"unknown policy {name!r}{hint} (known: {', '.join(PRESETS)}, or a checkpoint path)")
    return PolicyConfig(**{"name": name, **PRESETS[name], **overrides})


def build_policy(spec: str | PolicyConfig, **overrides: Any) -> MemoryPolicy:
    """A policy with fresh, seeded random weights (for training, tests and ``tiny``)."""
    config = spec if isinstance(spec, PolicyConfig) else policy_config(spec, **overrides)
    if isinstance(spec, PolicyConfig) and overrides:
        config = dataclasses.replace(spec, **overrides)
    return MemoryPolicy(config)


def load_policy(name_or_checkpoint: str | Path, expect: str | None = None) -> MemoryPolicy:
    """A ready policy: ``tiny`` / ``random`` by name, or any policy from a checkpoint file.

    The memory presets (``bank``, ...) have no weights of their own: train one with
    ``vidmem train-policy`` and pass the checkpoint path (or use ``robot.policies.train``'s cache).

    Args:
        name_or_checkpoint: ``tiny``, ``random`` or a checkpoint path.
        expect: a preset name whose architecture a checkpoint must match (else it is refused).
    """
    spec = str(name_or_checkpoint)
    path = Path(spec)
    if path.suffix == ".pt" or path.is_file():
        from robot.policies.checkpoint import load_checkpoint

        expected = None
        if expect is not None:
            # A preset name fixes the kind of memory and head; sizes may differ from its defaults.
            policy_config(expect)  # unknown name: "did you mean"
            kind = {k: v for k, v in PRESETS[expect].items() if k in ("memory", "head", "allocator")}
            stored = _stored_config(path)
            if kind.get("head") != "random" and stored.head != "random":
                kind.pop("head", None)
            expected = dataclasses.replace(stored, name=expect, **kind)
        return load_checkpoint(path, expect=expected)
    if spec in ("tiny", "random"):
        return build_policy(spec)
    if spec in PRESETS:
        raise UnknownPolicyError(
            f"policy {spec!r} has no weights of its own; train it (vidmem train-policy --env ENV --agent {spec}) "
            "and pass the checkpoint path"
        )
    policy_config(spec)  # raises with "did you mean"
    raise AssertionError("unreachable")


def _stored_config(path: Path) -> PolicyConfig:
    from robot.policies.checkpoint import read_checkpoint

    return read_checkpoint(path)[0]
