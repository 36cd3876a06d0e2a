"""Demonstrations for behaviour cloning: run an env's privileged expert and record what it sees and does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Demonstration:
    """One expert episode.

    Attributes:
        observations: per key, the stacked observations ``[T, ...]``.
        actions: expert action labels: int64 [T] (discrete) or float32 [T, A] (continuous).
        seed: the episode's seed.
        success: whether the episode reached its goal(s).
    """

    observations: dict[str, np.ndarray]
    actions: np.ndarray
    seed: int
    success: bool

    @property
    def length(self) -> int:
        return int(self.actions.shape[0])

    def action_chunks(self, chunk: int) -> np.ndarray:
        """Future expert actions per step, float32 [T, chunk, A]; past the end the expert holds still."""
        pad = np.zeros((chunk - 1, *self.actions.shape[1:]), dtype=np.float32)
        padded = np.concatenate([self.actions.astype(np.float32), pad])
        return np.stack([padded[t : t + chunk] for t in range(self.length)])


def record_demonstrations(
    env,
    episodes: int,
    seed: int = 0,
    explore: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> list[Demonstration]:
    """Drives ``env.expert_action()`` for ``episodes`` seeded episodes (seeds ``seed``, ``seed+1``, ...).

    Args:
        env: a ``NavEnv`` (discrete ids) or a continuous env like ``cue_reach`` (float vectors).
        episodes: how many episodes to record.
        seed: first episode seed.
        explore: probability of executing a perturbed action instead of the expert's (a random
            move/turn, or Gaussian noise on a continuous action) while still recording the
            expert's label, so the policy also learns to recover from its own mistakes.
        progress: called with 1 after each episode (a progress bar's ``update``).
    """
    if not 0.0 <= explore < 1.0:
        raise ValueError(f"explore must be in [0, 1), got {explore}")
    rng = np.random.default_rng(seed + 7_777_777)
    demos = []
    for i in range(episodes):
        demos.append(record_episode(env, seed + i, lambda obs, label: _perturb(label, explore, rng)))
        if progress is not None:
            progress(1)
    return demos


def record_episode(env, seed: int, act: Callable[[dict[str, np.ndarray], object], object]) -> Demonstration:
    """Plays one seeded episode, executing ``act(obs, expert_label)`` and recording the expert's labels.

    The expert labels every state the episode reaches, whoever chooses the executed action (the
    expert itself, a perturbed expert, or a learner in DAgger).
    """
    obs = env.reset(seed=seed)
    frames: dict[str, list[np.ndarray]] = {k: [] for k in obs}
    labels = []
    done = False
    while not done:
        for key, value in obs.items():
            frames[key].append(value)
        label = env.expert_action()
        labels.append(label)
        obs, done = env.step(act(obs, label))
    stacked = {k: np.stack(v) for k, v in frames.items()}
    return Demonstration(stacked, np.stack(labels), seed, env.goals_reached() >= len(env.episode.goals))


def _perturb(label, explore: float, rng: np.random.Generator):
    if explore == 0.0 or rng.random() >= explore:
        return label
    if np.ndim(label) == 0:
        return int(rng.integers(1, 4))  # a random move or turn; never STOP, which would end the episode
    return np.clip(label + rng.normal(0.0, 0.5, size=np.shape(label)), -1.0, 1.0).astype(np.float32)
