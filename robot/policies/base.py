"""``MemoryPolicy`` (observation encoder + memory + action head) and its per-episode ``EpisodeState``.

The policy is stateless between calls: every episode's memory lives in its own ``EpisodeState``,
so a server can hold many episodes and run one batched forward pass over any subset of them
(``infer_batch``) without mixing them. ``infer``/``reset`` are the single-episode convenience.
Torch is imported when a policy is built, not when this module is imported.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.policies.config import PolicyConfig
from vidmem.errors import VidmemError

NAV_ACTIONS = ("stop", "move_forward", "turn_left", "turn_right")


class ObservationError(VidmemError, ValueError):
    """An observation is missing a key or has the wrong shape or dtype (one-line message)."""


class CheckpointError(VidmemError, ValueError):
    """A file is not a policy checkpoint, or is one of another architecture."""


@dataclass
class EpisodeState:
    """One episode's memory and step counter; independent of every other episode's state.

    Attributes:
        memory: the memory's tensors, each with a leading batch axis of 1.
        step: steps taken so far in the episode (the next observation's timestep).
        seed: seeds this episode's sampling noise (diffusion head, sampled or random actions).
    """

    memory: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    seed: int = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the memory's tensors."""
        return int(sum(t.numel() * t.element_size() for t in self.memory.values()))

    def generator(self):
        """A torch generator for this episode and step: noise never depends on other episodes."""
        import torch

        return torch.Generator().manual_seed((self.seed * 1_000_003 + self.step) % (2**63))


def _describe(shape: tuple[int, ...], dtype: str) -> str:
    return f"{dtype} {list(shape)}"


class MemoryPolicy:
    """A policy over observations ``{rgb, gps_compass, goal}`` with per-episode memory.

    Args:
        config: the architecture.
        net: a built ``PolicyNet`` (weights loaded); built with seeded random weights when None.
        trained: whether the weights come from training (reported in ``metadata``).
    """

    def __init__(self, config: PolicyConfig, net: Any = None, trained: bool = False) -> None:
        self.config = config
        self.name = config.name
        self.trained = trained
        self.net = net if net is not None or config.head == "random" else _build_net(config)
        if self.net is not None:
            self.net.eval()
        self._seeds = itertools.count(config.seed * 7919 + 1)
        self._state: EpisodeState | None = None

    def metadata(self) -> dict[str, Any]:
        """What a client needs to talk to the policy (sent by the server on connect)."""
        meta: dict[str, Any] = {
            "policy": self.name,
            "memory": self.config.memory,
            "head": self.config.head,
            "trained": self.trained,
            "inputs": {k: {"shape": list(s), "dtype": d} for k, (s, d) in self.config.input_spec().items()},
            "outputs": {k: {"shape": list(s), "dtype": d} for k, (s, d) in self.config.output_spec().items()},
        }
        if self.config.head != "diffusion":
            meta["action_names"] = list(NAV_ACTIONS[: self.config.num_actions])
        return meta

    def validate(self, obs: Any) -> dict[str, np.ndarray]:
        """Checks one observation against the input spec; returns only the known keys.

        Raises:
            ObservationError: missing key, object dtype, wrong dtype or shape, non-finite values.
        """
        if not isinstance(obs, dict):
            raise ObservationError(f"observation must be a dict of arrays, got {type(obs).__name__}")
        out: dict[str, np.ndarray] = {}
        for key, (shape, dtype) in self.config.input_spec().items():
            want = _describe(shape, dtype)
            if key not in obs:
                raise ObservationError(f"observation is missing key {key!r} (expected {want})")
            value = obs[key]
            if not isinstance(value, np.ndarray):
                raise ObservationError(
                    f"observation {key!r} must be a numpy array ({want}), got {type(value).__name__}"
                )
            out[key] = _check_array(key, value, shape, dtype)
        return out

    def new_state(self, seed: int | None = None) -> EpisodeState:
        """A fresh, empty episode state (seeds come from a per-policy counter when None)."""
        memory = {} if self.net is None else self.net.memory.init_state(1)
        return EpisodeState(memory=memory, step=0, seed=next(self._seeds) if seed is None else int(seed))

    def infer_batch(self, observations: list[dict], states: list[EpisodeState]) -> list[dict[str, np.ndarray]]:
        """One batched forward pass over several episodes; each state is read and updated in place.

        Args:
            observations: one observation per episode (validated here).
            states: the matching episode states (distinct objects).

        Returns:
            One dict per episode with ``actions`` (int64 [1] discrete, float32 [K,A] diffusion).
        """
        if len(observations) != len(states):
            raise ValueError(f"{len(observations)} observations for {len(states)} states")
        if len({id(s) for s in states}) != len(states):
            raise ValueError("the same episode state appears twice in one batch")
        if not observations:
            return []
        checked = [self.validate(o) for o in observations]
        outputs = [self._random_action(s) for s in states] if self.net is None else self._forward(checked, states)
        for state in states:
            state.step += 1
        return outputs

    def infer(self, obs: dict) -> dict[str, np.ndarray]:
        """Single-episode inference on the internal state (created on first use)."""
        if self._state is None:
            self._state = self.new_state()
        return self.infer_batch([obs], [self._state])[0]

    def reset(self) -> None:
        """Starts a new internal episode (the next ``infer`` sees an empty memory)."""
        self._state = None

    def save(self, path) -> None:
        """Writes config and weights together (see ``robot.policies.checkpoint``)."""
        from robot.policies.checkpoint import save_checkpoint

        save_checkpoint(self, path)

    def _forward(self, checked: list[dict[str, np.ndarray]], states: list[EpisodeState]) -> list[dict]:
        import torch

        batch = {k: torch.from_numpy(np.stack([o[k] for o in checked])) for k in checked[0]}
        memory = {k: torch.cat([s.memory[k] for s in states]) for k in states[0].memory}
        t = torch.tensor([float(s.step) for s in states])
        with torch.no_grad():
            tokens, place = self.net.encode(batch)
            features, memory = self.net.step(tokens, place, t, memory)
            outputs = self._act(features, states)
        for i, state in enumerate(states):
            # Clone so a state does not keep the whole batch's storage alive.
            state.memory = {k: v[i : i + 1].clone() for k, v in memory.items()}
        return outputs

    def _act(self, features, states: list[EpisodeState]) -> list[dict]:
        import torch

        cfg = self.config
        if cfg.head == "diffusion":
            noise = torch.stack(
                [torch.randn(cfg.action_chunk, cfg.action_dim, generator=s.generator()) for s in states]
            )
            chunks = self.net.head.sample(features, noise).numpy().astype(np.float32)
            return [{"actions": c} for c in chunks]
        logits = self.net.head(features)
        if cfg.greedy:
            actions = logits.argmax(dim=1).tolist()
        else:
            probs = torch.softmax(logits, dim=1)
            actions = [
                int(torch.multinomial(p, 1, generator=s.generator())) for p, s in zip(probs, states, strict=True)
            ]
        return [
            {"actions": np.array([a], dtype=np.int64), "logits": row.numpy().astype(np.float32)}
            for a, row in zip(actions, logits, strict=True)
        ]

    def _random_action(self, state: EpisodeState) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([state.seed, state.step])
        return {"actions": np.array([rng.integers(self.config.num_actions)], dtype=np.int64)}


def _check_array(key: str, value: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    want = _describe(shape, dtype)
    if value.dtype == object:
        raise ObservationError(f"observation {key!r} has dtype object; expected {want}")
    if tuple(value.shape) != tuple(shape):
        raise ObservationError(f"observation {key!r} has shape {list(value.shape)}; expected {want}")
    if dtype == "uint8":
        if value.dtype != np.uint8:
            raise ObservationError(f"observation {key!r} has dtype {value.dtype}; expected {want}")
        return value
    # Float inputs accept any float width (a float64 position is not an error); ints/bools are.
    if not np.issubdtype(value.dtype, np.floating):
        raise ObservationError(f"observation {key!r} has dtype {value.dtype}; expected {want}")
    if not np.all(np.isfinite(value)):
        raise ObservationError(f"observation {key!r} contains NaN or infinite values")
    return value.astype(np.float32, copy=False)


def _build_net(config: PolicyConfig):
    import torch

    from robot.policies.network import PolicyNet

    # Seeded so an untrained preset (``tiny``) is the same network in every process.
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        return PolicyNet(config)
