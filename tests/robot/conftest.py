"""Factories for robot tests: random observations that match a policy's input spec."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def make_obs():
    """Factory: ``make_obs(policy, seed=0) -> dict`` of random arrays matching ``policy``'s inputs."""

    def make(policy, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        obs = {}
        for key, (shape, dtype) in policy.config.input_spec().items():
            if dtype == "uint8":
                obs[key] = rng.integers(0, 256, size=shape, dtype=np.uint8)
            else:
                obs[key] = rng.normal(size=shape).astype(np.float32)
        return obs

    return make


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Two threads on the shared 2-core CI machine are far slower than one for these small nets."""
    import torch

    torch.set_num_threads(1)
