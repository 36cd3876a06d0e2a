"""The ``NavEnv`` protocol (Habitat's vocabulary), episodes, and the environment registry.

An environment hands out observations as a dict of arrays:

- ``rgb``: uint8 [H, W, 3] (default 60x80),
- ``depth``: float32 [H, W, 1] metres, where the simulator renders it (MiniWorld does, on request),
- ``gps_compass``: float32 [3]: the agent's displacement from the episode's start in the start's
  frame (``x`` along the start heading, ``z`` to the start's right) and its heading relative to the
  start heading, radians in (-pi, pi] (Habitat's EpisodicGPS + EpisodicCompass in one vector),
- ``goal``: float32 [G]: the task's instruction vector (a one-hot object id, a shape, a flag).

Actions are Habitat's four discrete ids ``ACTIONS``. Episodes are fixed by a seed: ``reset(seed)``
gives the same start, goals and observations on every machine; ``reset()`` without a seed takes
the env's next seed (``make_env(name, seed=S)`` starts that sequence at ``S``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from encoders.registry import Registry

ACTIONS = ("stop", "move_forward", "turn_left", "turn_right")
STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT = range(4)


class EnvError(ValueError):
    """A bad environment request (unknown name, bad option, step after the end): one-line message."""


@dataclass(frozen=True)
class Goal:
    """One goal of an episode: an object (or place) the agent must stop near.

    Attributes:
        position: float [3] world position ``(x, y, z)``.
        name: what it is (``"red box"``), for plots and logs.
        object_id: index of the object kind in the task's goal vocabulary (-1 for a place).
    """

    position: tuple[float, float, float]
    name: str
    object_id: int = -1


@dataclass(frozen=True)
class Episode:
    """Start and goals of one episode; ``seed`` rebuilds it exactly.

    Attributes:
        episode_id: ``"<env>-<seed>"``.
        seed: the seed ``reset`` was given.
        start_position: float [3] world position.
        start_heading: radians (MiniWorld's convention: 0 faces +x, pi/2 faces -z).
        goals: goals in the order they must be reached.
        info: task-specific facts (the cue, the sign's colour) for plots and debugging.
    """

    episode_id: str
    seed: int
    start_position: tuple[float, float, float]
    start_heading: float
    goals: tuple[Goal, ...]
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class NavEnv(Protocol):
    """What every navigation environment provides (see the module docstring for observations)."""

    name: str
    success_distance: float
    max_steps: int
    episode: Episode | None
    next_seed: int
    steps: int  # actions taken in this episode
    trajectory: list[tuple[float, float, float]]  # (x, z, heading) after reset and after each action

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Starts a new episode and returns its first observations."""
        ...

    def step(self, action: int) -> tuple[dict[str, np.ndarray], bool]:
        """Applies one action id; returns ``(observations, done)``; done after STOP or the step limit."""
        ...

    def expert_action(self) -> int:
        """The privileged expert's next action (uses the simulator's state; for demonstrations)."""
        ...

    def agent_position(self) -> np.ndarray:
        """float64 [3] world position of the agent."""
        ...

    def agent_heading(self) -> float:
        """World heading of the agent in radians."""
        ...

    def geodesic_distance_to_goal(self) -> float:
        """Shortest-path distance (metres) still to walk: to the current goal and through the later ones."""
        ...

    def episode_shortest_path(self) -> float:
        """Geodesic length of the best route from the start through every goal in order (SPL's ``l``)."""
        ...

    def goals_reached(self) -> int:
        """How many of the episode's goals were reached (STOP called within the success distance)."""
        ...

    def observation_spec(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """``{key: (shape, dtype name)}`` of every observation."""
        ...

    def close(self) -> None:
        """Frees the simulator."""
        ...


ENVS: Registry[NavEnv] = Registry("environment")
"""Registered environments; a task module adds itself with ``@ENVS.register(name, ConfigClass)``."""

# Modules whose import registers environments; imported on first use so ``import robot.envs`` stays light.
_TASK_MODULES = ("robot.envs.miniworld_tasks", "robot.envs.cue_reach")


def _load_task_modules() -> None:
    import importlib

    for module in _TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a missing dependency inside the module is a real error
                raise


def env_names() -> list[str]:
    """Names ``make_env`` accepts, sorted."""
    _load_task_modules()
    return ENVS.names()


def make_env(name: str, seed: int = 0, **options: Any) -> NavEnv:
    """Builds a registered environment.

    Args:
        name: registered name (``tmaze``, ``sign``, ``multiobject``, ...); unknown names get "did you mean".
        seed: first episode seed used by ``reset()`` without an explicit seed.
        **options: fields of the environment's config (``depth=True``, ``max_steps=...``).

    Raises:
        EnvError: unknown name or a bad option.
    """
    from encoders.registry import UnknownComponentError

    _load_task_modules()
    try:
        env = ENVS.build(name, **options)
    except UnknownComponentError as exc:
        raise EnvError(str(exc)) from None
    except TypeError as exc:  # an option the config does not have
        raise EnvError(f"environment {name!r}: {exc}") from None
    env.next_seed = int(seed)
    return env


def observation_spec_of(obs: dict[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], str]]:
    """The ``{key: (shape, dtype)}`` spec of one observation dict."""
    return {key: (tuple(value.shape), str(value.dtype)) for key, value in obs.items()}


def wrap_angle(angle: float) -> float:
    """Maps radians into (-pi, pi]."""
    wrapped = (angle + np.pi) % (2 * np.pi) - np.pi
    return float(np.pi if wrapped == -np.pi else wrapped)
