"""Training the spatial memory's learned allocator (a contextual bandit over eviction strategies).

After behaviour cloning, each rollout episode is played with one eviction strategy drawn at random
(FIFO, LIFO, least- or most-visited-first). The allocator's task features, averaged over the steps
at which the memory was full (when the strategy decides something), are paired with the strategy
and the episode's success; the Q-network regresses that reward, and at inference picks the
strategy with the highest predicted success for the current features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot.policies.base import EpisodeState, MemoryPolicy
from robot.policies.rollout import run_episode


def fit_allocator(policy: MemoryPolicy, env, episodes: int, seed: int = 20_000) -> dict[str, Any]:
    """Fits ``policy``'s learned allocator from ``episodes`` seeded rollouts on ``env``.

    Raises:
        ValueError: the policy has no learned allocator, or no episode ever filled the memory.
    """
    import torch

    from robot.memory.spatial import STRATEGIES, SpatialMemory, allocator_features

    memory = getattr(policy.net, "memory", None)
    if not isinstance(memory, SpatialMemory) or memory.chooser is None:
        raise ValueError("fit_allocator needs a spatial policy with allocator='learned'")
    rng = np.random.default_rng(seed)
    features, choices, rewards = [], [], []
    tried: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    for i in range(episodes):
        strategy = int(rng.integers(len(STRATEGIES)))
        seen: list[torch.Tensor] = []

        def record(state: EpisodeState, seen=seen) -> None:
            if bool(state.memory["valid"].all()):  # full: this step's write evicts by the strategy
                seen.append(allocator_features(state.memory, torch.tensor([float(state.step)]))[0])

        memory.forced_strategy = strategy
        try:
            outcome = run_episode(policy, env, seed + i, before_step=record)
        finally:
            memory.forced_strategy = None
        if seen:
            features.append(torch.stack(seen).mean(dim=0))
            choices.append(strategy)
            rewards.append(outcome["success"])
            tried[STRATEGIES[strategy]].append(outcome["success"])
    if not features:
        raise ValueError("no rollout filled the spatial memory, so eviction never mattered (capacity too large?)")
    error = memory.chooser.fit(torch.stack(features), torch.tensor(choices), torch.tensor(rewards, dtype=torch.float32))
    return {
        "samples": len(features),
        "fit_mse": round(error, 5),
        "success_by_strategy": {k: (round(float(np.mean(v)), 3) if v else None) for k, v in tried.items()},
    }
