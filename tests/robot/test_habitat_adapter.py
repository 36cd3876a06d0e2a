"""The Habitat adapter: observation mapping runs everywhere; the habitat.Agent/Benchmark tests need habitat-sim."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from robot.envs.habitat_adapter import VidmemAgent, habitat_to_vidmem


def habitat_observations(seed: int = 0, objectgoal: int = 2) -> dict[str, np.ndarray]:
    """What Habitat's ObjectNav sensors hand an agent (rgb 256x256, depth, gps, compass, objectgoal)."""
    rng = np.random.default_rng(seed)
    return {
        "rgb": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        "depth": rng.random((256, 256, 1), dtype=np.float32),
        "gps": np.array([1.5, -0.5], np.float32),
        "compass": np.array([0.25], np.float32),
        "objectgoal": np.array([objectgoal], np.int64),
    }


def test_observations_map_to_vidmem_keys():
    obs = habitat_to_vidmem(habitat_observations(), image_size=(64, 64), goal_dim=4)
    assert obs["rgb"].shape == (64, 64, 3) and obs["rgb"].dtype == np.uint8
    np.testing.assert_array_equal(obs["gps_compass"], np.array([1.5, -0.5, 0.25], np.float32))
    assert obs["goal"].tolist() == [0, 0, 1, 0]
    point = habitat_to_vidmem(
        {"rgb": np.zeros((64, 64, 3), np.uint8), "gps": np.zeros(2), "compass": np.zeros(1),
         "pointgoal_with_gps_compass": np.array([3.0, 0.5], np.float32)},
        image_size=(64, 64),
        goal_dim=4,
    )  # fmt: skip
    assert point["goal"].tolist() == [3.0, 0.5, 0.0, 0.0]
    with pytest.raises(KeyError, match="lack sensor 'gps'"):
        habitat_to_vidmem({"rgb": np.zeros((8, 8, 3), np.uint8), "compass": np.zeros(1)}, (64, 64), 4)
    with pytest.raises(ValueError, match="objectgoal 7"):
        habitat_to_vidmem(habitat_observations(objectgoal=7), (64, 64), 4)


def test_agent_acts_with_habitat_action_ids_and_resets_its_memory():
    from robot.policies import load_policy

    agent = VidmemAgent(load_policy("tiny"))  # the tiny preset takes 64x64 rgb and a goal of width 4
    actions = [agent.act(habitat_observations(seed))["action"] for seed in range(5)]
    assert all(a in (0, 1, 2, 3) for a in actions)
    assert agent.state.step == 5
    agent.reset()
    assert agent.state.step == 0
    assert "habitat" not in sys.modules  # the adapter never imports habitat on its own


@pytest.mark.habitat
def test_vidmem_policy_is_a_habitat_agent():
    import habitat

    from robot.envs.habitat_adapter import as_habitat_agent
    from robot.policies import load_policy

    agent = as_habitat_agent(load_policy("tiny"))
    assert isinstance(agent, habitat.Agent)
    agent.reset()
    assert agent.act(habitat_observations())["action"] in (0, 1, 2, 3)


@pytest.mark.habitat
def test_benchmark_runs_on_the_habitat_test_scenes():
    """Needs habitat-sim and the habitat test scenes (``python -m habitat_sim.utils.datasets_download``)."""
    from robot.envs.habitat_adapter import run_benchmark

    metrics = run_benchmark("tiny", "benchmark/nav/objectnav/objectnav_habitat_test.yaml", episodes=2)
    assert {"success", "spl", "distance_to_goal"} <= set(metrics)
    assert 0.0 <= metrics["spl"] <= 1.0
