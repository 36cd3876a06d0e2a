"""A vidmem policy as a ``habitat.Agent``, and a runner for ``habitat.Benchmark``.

Written against habitat-lab's documented API (``habitat/core/agent.py``: ``reset()`` and
``act(observations) -> int | str | dict``; ``habitat/core/benchmark.py``: ``Benchmark(config_paths)``
and ``evaluate(agent, num_episodes) -> {metric: mean}``). habitat-lab imports only with
habitat-sim, which has no build for this project's CPU machines, so ``habitat`` is imported lazily
here, the tests that need it are marked ``habitat``, and nothing else in vidmem imports this module.

Observation mapping (Habitat sensor uuids -> vidmem keys):

- ``rgb`` uint8 [H, W, 3] -> ``rgb``, resized to the policy's image size;
- ``depth`` float32 [H, W, 1] -> ``depth`` (passed through where the policy takes it);
- ``gps`` float32 [2] (forward, right of the episode start: Habitat's ``[-z, x]``) and ``compass``
  float32 [1] -> ``gps_compass`` float32 [3], vidmem's start-frame convention;
- ``objectgoal`` int64 [1] -> one-hot ``goal`` float32 [G]; or ``pointgoal_with_gps_compass``
  float32 [2] -> ``goal`` (zero-padded to G).

Actions: vidmem's ids are Habitat's discrete nav ids (0 stop, 1 move_forward, 2 turn_left,
3 turn_right); ``act`` returns ``{"action": id}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot.envs.base import ACTIONS


class HabitatUnavailableError(RuntimeError):
    """habitat-lab (and habitat-sim under it) cannot be imported here."""


def import_habitat() -> Any:
    """``import habitat`` with a one-line error naming what is missing."""
    try:
        import habitat
    except Exception as exc:  # ImportError, or habitat-sim's native libraries failing to load
        raise HabitatUnavailableError(
            f"habitat-lab is not importable ({type(exc).__name__}: {exc}); it needs habitat-sim, which must be "
            "installed from conda or built from source (not available on this project's CPU machines)"
        ) from None
    return habitat


def habitat_to_vidmem(
    observations: dict[str, Any], image_size: tuple[int, int] | None, goal_dim: int
) -> dict[str, np.ndarray]:
    """Maps one Habitat observation dict to vidmem's keys (see the module docstring).

    Args:
        observations: Habitat sensor uuid -> array.
        image_size: the policy's (H, W) for ``rgb``; None keeps no image.
        goal_dim: width G of the policy's ``goal``.

    Raises:
        KeyError: a sensor the mapping needs is missing (the message names it).
    """
    out: dict[str, np.ndarray] = {}
    if image_size is not None:
        out["rgb"] = _resize_rgb(np.asarray(_need(observations, "rgb")), image_size)
    if "depth" in observations:
        out["depth"] = np.asarray(observations["depth"], dtype=np.float32)
    gps = np.asarray(_need(observations, "gps"), dtype=np.float32).reshape(-1)[:2]
    compass = np.asarray(_need(observations, "compass"), dtype=np.float32).reshape(-1)[:1]
    out["gps_compass"] = np.concatenate([gps, compass]).astype(np.float32)
    out["goal"] = _goal_vector(observations, goal_dim)
    return out


def _need(observations: dict[str, Any], key: str) -> Any:
    if key not in observations:
        raise KeyError(f"habitat observations lack sensor {key!r} (have: {', '.join(sorted(observations))})")
    return observations[key]


def _resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rgb = rgb[..., :3].astype(np.uint8)
    if rgb.shape[:2] == tuple(size):
        return rgb
    from PIL import Image

    height, width = size
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR), dtype=np.uint8)


def _goal_vector(observations: dict[str, Any], goal_dim: int) -> np.ndarray:
    goal = np.zeros(goal_dim, np.float32)
    if "objectgoal" in observations:
        category = int(np.asarray(observations["objectgoal"]).reshape(-1)[0])
        if not 0 <= category < goal_dim:
            raise ValueError(f"objectgoal {category} does not fit the policy's goal width {goal_dim}")
        goal[category] = 1.0
    elif "pointgoal_with_gps_compass" in observations:
        point = np.asarray(observations["pointgoal_with_gps_compass"], dtype=np.float32).reshape(-1)
        goal[: min(goal_dim, len(point))] = point[:goal_dim]
    return goal


class VidmemAgent:
    """A vidmem ``MemoryPolicy`` behind Habitat's agent interface (duck-typed; see ``as_habitat_agent``).

    Args:
        policy: a loaded ``MemoryPolicy`` with a discrete navigation head.
    """

    def __init__(self, policy: Any) -> None:
        if policy.config.head == "diffusion":
            raise ValueError(f"policy {policy.name!r} has a continuous (diffusion) head; Habitat nav needs discrete")
        self.policy = policy
        self.state = policy.new_state()

    def reset(self) -> None:
        """A fresh, empty memory for the next episode."""
        self.state = self.policy.new_state()

    def act(self, observations: dict[str, Any]) -> dict[str, int]:
        """One step: ``{"action": id}`` with Habitat's discrete nav ids."""
        cfg = self.policy.config
        obs = habitat_to_vidmem(observations, cfg.image_size, cfg.goal_dim)
        action = int(np.asarray(self.policy.infer_batch([obs], [self.state])[0]["actions"]).reshape(-1)[0])
        if not 0 <= action < len(ACTIONS):
            raise ValueError(f"policy returned action {action}, not a Habitat nav id")
        return {"action": action}


def as_habitat_agent(policy: Any) -> Any:
    """The policy wrapped in a real ``habitat.Agent`` subclass (needs habitat-lab)."""
    habitat = import_habitat()
    cls = type("VidmemHabitatAgent", (VidmemAgent, habitat.Agent), {})
    return cls(policy)


def run_benchmark(policy_spec: str, config_path: str, episodes: int | None = None) -> dict[str, float]:
    """Evaluates a vidmem policy (name or checkpoint) with ``habitat.Benchmark(config_path)``.

    Returns:
        Habitat's averaged metrics (``success``, ``spl``, ``soft_spl``, ``distance_to_goal``, ...).
    """
    habitat = import_habitat()
    from robot.policies import load_policy

    agent = as_habitat_agent(load_policy(policy_spec))
    return dict(habitat.Benchmark(config_path).evaluate(agent, num_episodes=episodes))
