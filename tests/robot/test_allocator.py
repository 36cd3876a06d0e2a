"""The learned allocator (Q-network chooser) beats every fixed eviction strategy when the right one varies.

Two kinds of episode share one small spatial memory. In a *corridor* the agent walks on and never
comes back, and what counts at the end is the first entry (a cue seen at the start): only LIFO,
which evicts the newest entry, keeps it. When the agent *paces* between two cells, what counts is
the last few entries: FIFO keeps them and LIFO loses them. No fixed strategy is right for both, so
each scores at most half; the chooser, fitted as ``fit_allocator`` fits it (one random strategy
per episode, the task features averaged over the steps when the memory was full, regressed on the
episode's outcome), tells the two apart from the revisit features and picks per episode.
"""

from __future__ import annotations

import numpy as np
import torch

from robot.memory.spatial import STRATEGIES, SpatialConfig, SpatialMemory, allocator_features

CAPACITY, STEPS = 6, 20
KINDS = ("corridor", "pace")


def _path(kind: str) -> list[tuple[float, float]]:
    if kind == "corridor":
        return [(float(t), 0.0) for t in range(STEPS)]
    return [(float(t % 2), 0.0) for t in range(STEPS)]


def _play(memory: SpatialMemory, kind: str, strategy: int | None = None) -> tuple[torch.Tensor, float]:
    """One episode of writes; returns the mean features when full and whether the needed entries survived."""
    memory.forced_strategy = strategy
    state = memory.init_state(1)
    seen = []
    try:
        for t, (x, z) in enumerate(_path(kind)):
            place, now = torch.tensor([[x, z, 0.0]]), torch.tensor([float(t)])
            if bool(state["valid"].all()):
                seen.append(allocator_features(state, now)[0])
            # The same two calls SpatialMemory.forward makes after reading.
            state = memory.write(memory.count_visits(state, place), torch.zeros(1, memory.config.dim), place, now)
    finally:
        memory.forced_strategy = None
    held = set(state["time"][0][state["valid"][0]].tolist())
    needed = {0.0} if kind == "corridor" else {float(t) for t in range(STEPS - 3, STEPS)}
    return torch.stack(seen).mean(dim=0), float(needed <= held)


def test_learned_allocator_beats_every_fixed_strategy_when_the_right_one_depends_on_the_task():
    torch.manual_seed(0)
    memory = SpatialMemory(SpatialConfig(dim=8, capacity=CAPACITY, k=2, allocator="learned"))
    fixed = {name: np.mean([_play(memory, kind, i)[1] for kind in KINDS]) for i, name in enumerate(STRATEGIES)}
    assert max(fixed.values()) <= 0.5  # no single strategy serves both kinds of episode

    rng = np.random.default_rng(0)
    features, choices, rewards = [], [], []
    for i in range(40):
        strategy = int(rng.integers(len(STRATEGIES)))
        f, reward = _play(memory, KINDS[i % 2], strategy)
        features.append(f)
        choices.append(strategy)
        rewards.append(reward)
    memory.chooser.fit(torch.stack(features), torch.tensor(choices), torch.tensor(rewards))

    learned = np.mean([_play(memory, kind)[1] for kind in KINDS])  # the chooser decides at every eviction
    assert learned == 1.0, (learned, fixed)
    assert learned > max(fixed.values()) + 0.4
