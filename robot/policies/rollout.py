"""Running a policy in an environment: one episode, or a seeded success rate (for tests and benches)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from robot.policies.base import EpisodeState, MemoryPolicy


def run_episode(
    policy: MemoryPolicy, env, seed: int, before_step: Callable[[EpisodeState], None] | None = None
) -> dict[str, float]:
    """Plays one seeded episode with a fresh memory; returns ``{"success", "steps", "distance"}``.

    Discrete policies send ``actions[0]`` as the action id; diffusion policies execute the first
    action of each predicted chunk and re-plan every step (receding horizon). ``before_step`` sees
    the episode state before each step (e.g. to record the memory's features).
    """
    obs = env.reset(seed=seed)
    state = policy.new_state(seed=seed)
    done = False
    steps = 0
    while not done:
        if before_step is not None:
            before_step(state)
        actions = policy.infer_batch([obs], [state])[0]["actions"]
        action = actions[0] if policy.config.head == "diffusion" else int(actions[0])
        obs, done = env.step(action)
        steps += 1
    success = env.goals_reached() >= len(env.episode.goals)
    return {"success": float(success), "steps": float(steps), "distance": env.geodesic_distance_to_goal()}


def success_rate(policy: MemoryPolicy, env, episodes: int, seed: int = 10_000) -> float:
    """Fraction of ``episodes`` seeded episodes (seeds ``seed``, ``seed+1``, ...) that succeed."""
    return float(np.mean([run_episode(policy, env, seed + i)["success"] for i in range(episodes)]))
