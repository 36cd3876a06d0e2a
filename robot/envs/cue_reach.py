"""``cue_reach``: a tiny continuous 2-D point task whose cue disappears, so memory matters.

The agent starts near the origin; one of ``num_targets`` targets (evenly spaced on a circle of
radius 1) is the goal. For the first ``cue_steps`` steps the ``goal`` observation shows which (a
one-hot plus a "cue visible" flag) and the expert holds still; afterwards the cue is all zeros
and the agent must still go to the right target. A memoryless policy sees the same observations
for every target after the cue, so it can only guess; a policy that remembers the cue can reach
it. Actions are float32 [2] velocities in [-1, 1] (times ``speed`` per step), so the task trains
the diffusion head on continuous action chunks. Pure numpy; it follows the ``NavEnv`` protocol
except that actions are vectors instead of ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot.envs.base import ENVS, EnvError, Episode, Goal


@dataclass(frozen=True)
class CueReachConfig:
    """Task settings.

    Attributes:
        num_targets: targets on the unit circle; the cue names one.
        cue_steps: steps at the start during which the cue is visible.
        max_steps: step limit of an episode.
        speed: distance moved per step at full action.
        success_distance: the episode succeeds when the agent comes this close to the target.
        start_noise: the start position is uniform in [-start_noise, start_noise]^2.
    """

    num_targets: int = 4
    cue_steps: int = 3
    max_steps: int = 16
    speed: float = 0.2
    success_distance: float = 0.15
    start_noise: float = 0.05

    def __post_init__(self) -> None:
        if self.num_targets < 2:
            raise ValueError(f"num_targets must be >= 2, got {self.num_targets}")
        if not 1 <= self.cue_steps < self.max_steps:
            raise ValueError(f"cue_steps must be in [1, max_steps={self.max_steps}), got {self.cue_steps}")
        if self.speed <= 0 or self.success_distance <= 0 or self.start_noise < 0:
            raise ValueError("speed and success_distance must be > 0, start_noise >= 0")


class CueReachEnv:
    """The cue-reach task (see the module docstring). Observations:

    ``gps_compass`` float32 [3] (x, y, 0), ``goal`` float32 [num_targets + 1] (one-hot target and
    a visibility flag while the cue shows, zeros after).
    """

    name = "cue_reach"
    action_dim = 2

    def __init__(self, config: CueReachConfig | None = None) -> None:
        self.config = config or CueReachConfig()
        self.success_distance = self.config.success_distance
        self.max_steps = self.config.max_steps
        angles = 2 * np.pi * np.arange(self.config.num_targets) / self.config.num_targets + np.pi / 4
        self.targets = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        self.episode: Episode | None = None
        self.next_seed = 0
        self._pos = np.zeros(2)
        self._target = 0
        self._t = 0
        self._done = True
        self._reached = False

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Starts an episode (seeded: same start and target for the same seed)."""
        if seed is None:
            seed, self.next_seed = self.next_seed, self.next_seed + 1
        rng = np.random.default_rng(seed)
        self._target = int(rng.integers(self.config.num_targets))
        self._pos = rng.uniform(-self.config.start_noise, self.config.start_noise, size=2)
        self._t, self._done, self._reached = 0, False, False
        tx, ty = self.targets[self._target]
        goal = Goal((float(tx), 0.0, float(ty)), f"target {self._target}", self._target)
        start = (float(self._pos[0]), 0.0, float(self._pos[1]))
        self.episode = Episode(f"cue_reach-{seed}", int(seed), start, 0.0, (goal,), {"target": self._target})
        return self._observe()

    def step(self, action) -> tuple[dict[str, np.ndarray], bool]:
        """Moves by ``clip(action, -1, 1) * speed``; done on reaching the target or the step limit."""
        if self._done:
            raise EnvError("step() after the episode ended; call reset()")
        velocity = np.asarray(action, dtype=np.float64).reshape(-1)
        if velocity.shape != (2,) or not np.all(np.isfinite(velocity)):
            raise EnvError(f"cue_reach actions are 2 finite floats, got {np.asarray(action).tolist()!r}")
        self._pos = self._pos + np.clip(velocity, -1.0, 1.0) * self.config.speed
        self._t += 1
        self._reached = self.geodesic_distance_to_goal() <= self.success_distance
        self._done = self._reached or self._t >= self.max_steps
        return self._observe(), self._done

    def expert_action(self) -> np.ndarray:
        """Holds still while the cue shows, then heads straight for the target; float32 [2]."""
        if self._t < self.config.cue_steps:
            return np.zeros(2, dtype=np.float32)
        delta = self.targets[self._target] - self._pos
        dist = float(np.linalg.norm(delta))
        step = min(1.0, dist / self.config.speed)
        return (delta / max(dist, 1e-9) * step).astype(np.float32)

    def agent_position(self) -> np.ndarray:
        """float64 [3] position (x, 0, y) in the world frame of the other tasks."""
        return np.array([self._pos[0], 0.0, self._pos[1]])

    def agent_heading(self) -> float:
        return 0.0

    def geodesic_distance_to_goal(self) -> float:
        """Euclidean distance to the target (no obstacles)."""
        return float(np.linalg.norm(self.targets[self._target] - self._pos))

    def goals_reached(self) -> int:
        return int(self._reached)

    def observation_spec(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"gps_compass": ((3,), "float32"), "goal": ((self.config.num_targets + 1,), "float32")}

    def close(self) -> None:
        """Nothing to free."""

    def _observe(self) -> dict[str, np.ndarray]:
        goal = np.zeros(self.config.num_targets + 1, dtype=np.float32)
        if self._t < self.config.cue_steps:
            goal[self._target] = 1.0
            goal[-1] = 1.0
        gps = np.array([self._pos[0], self._pos[1], 0.0], dtype=np.float32)
        return {"gps_compass": gps, "goal": goal}


@ENVS.register("cue_reach", CueReachConfig)
def _build(config: CueReachConfig) -> CueReachEnv:
    return CueReachEnv(config)
