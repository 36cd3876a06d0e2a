"""MiniWorld navigation tasks: the NavEnv contract, seeded repeatability, the expert, memory need."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from robot.envs import ACTIONS, EnvError, NavEnv, env_names, make_env
from robot.envs.base import MOVE_FORWARD, STOP, TURN_LEFT, TURN_RIGHT

TASKS = ("tmaze", "sign", "multiobject")


@pytest.fixture(scope="module")
def envs():
    """One env per task for the module (each holds an OpenGL context)."""
    made = {name: make_env(name) for name in TASKS}
    yield made
    for env in made.values():
        env.close()


def play_expert(env, seed: int) -> list[dict[str, np.ndarray]]:
    observations = [env.reset(seed)]
    done = False
    while not done:
        obs, done = env.step(env.expert_action())
        observations.append(obs)
    return observations


def test_registry_lists_tasks_and_suggests_close_names():
    assert set(TASKS) <= set(env_names())
    with pytest.raises(EnvError, match="did you mean 'tmaze'"):
        make_env("tmaz")
    with pytest.raises(EnvError, match="multiobject"):
        make_env("multi_object")
    with pytest.raises(EnvError, match="max_step"):
        make_env("tmaze", max_step=3)


@pytest.mark.parametrize("name", TASKS)
def test_observations_follow_the_protocol(envs, name):
    env = envs[name]
    assert isinstance(env, NavEnv)
    obs = env.reset(0)
    spec = env.observation_spec()
    assert spec["rgb"] == ((60, 80, 3), "uint8")
    assert spec["depth"] == ((60, 80, 1), "float32")
    assert spec["gps_compass"] == ((3,), "float32")
    assert set(obs) == set(spec)
    for key, (shape, dtype) in spec.items():
        assert obs[key].shape == shape and str(obs[key].dtype) == dtype
    np.testing.assert_array_equal(obs["gps_compass"], [0, 0, 0])  # the start is the origin
    assert obs["rgb"].std() > 5  # a rendered scene, not a blank frame
    assert 0 < float(obs["depth"].min()) < float(obs["depth"].max()) < 100


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_same_episode_different_seeds_differ(envs, name):
    env = envs[name]
    first = play_expert(env, seed=5)
    episode = env.episode
    again = play_expert(env, seed=5)
    assert env.episode == episode
    assert len(first) == len(again)
    for a, b in zip(first, again, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    layouts = {str(make_env_layout(env, seed)) for seed in range(8)}
    assert len(layouts) > 1


def make_env_layout(env, seed):
    env.reset(seed)
    return (env.episode.start_position, env.episode.start_heading, env.episode.goals)


def test_reset_without_seed_walks_the_seed_sequence():
    env = make_env("tmaze", seed=3, depth=False)
    try:
        env.reset()
        env.reset()
        assert env.episode.seed == 4
        assert "depth" not in env.reset(10)
    finally:
        env.close()


@pytest.mark.parametrize("name", TASKS)
def test_expert_reaches_every_goal(envs, name):
    env = envs[name]
    for seed in range(6):
        play_expert(env, seed)
        assert env.goals_reached() == len(env.episode.goals)
        assert env.geodesic_distance_to_goal() == 0
        assert env.steps <= env.max_steps
        assert walked_metres(env) == pytest.approx(env.episode_shortest_path())  # shortest paths


def walked_metres(env) -> float:
    return sum(np.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(env.trajectory, env.trajectory[1:], strict=False))


def test_sign_far_expert_detours_to_read_the_panel():
    env = make_env("sign_far", depth=False)
    try:
        for seed in range(3):
            play_expert(env, seed)
            assert env.goals_reached() == 1
            assert walked_metres(env) > env.episode_shortest_path()  # via the panel, not straight
            assert ((5, 4), 0) in {(env.grid.cell(x, z), round(h / (np.pi / 2)) % 4) for x, z, h in env.trajectory}
    finally:
        env.close()


def test_gps_compass_tracks_moves_in_the_start_frame(envs):
    env = envs["multiobject"]
    for seed in range(20):  # find an episode whose start has a free cell ahead
        env.reset(seed)
        if env.grid.can_move(env.cell, env.heading):
            break
    obs, _ = env.step(MOVE_FORWARD)
    np.testing.assert_allclose(obs["gps_compass"], [1, 0, 0], atol=1e-6)
    obs, _ = env.step(TURN_LEFT)
    np.testing.assert_allclose(obs["gps_compass"], [1, 0, np.pi / 2], atol=1e-6)
    obs, _ = env.step(TURN_RIGHT)
    obs, _ = env.step(TURN_RIGHT)
    np.testing.assert_allclose(obs["gps_compass"][2], -np.pi / 2, atol=1e-6)


def test_tmaze_cue_is_seen_only_at_the_start(envs):
    """Two episodes that differ only in the cue look alike once the agent has turned away."""
    env = envs["tmaze"]
    by_cue = {}
    for seed in range(40):
        env.reset(seed)
        key = (env.layout["start"], env.layout["cue"])
        by_cue.setdefault(key, seed)
    start = next(s for s, _ in by_cue if (s, "green") in by_cue and (s, "blue") in by_cue)
    runs = []
    for cue in ("green", "blue"):
        obs = [env.reset(by_cue[start, cue])]
        for action in (TURN_LEFT, TURN_LEFT, MOVE_FORWARD, MOVE_FORWARD):
            obs.append(env.step(action)[0])
        runs.append(obs)
    assert not np.array_equal(runs[0][0]["rgb"], runs[1][0]["rgb"])  # the cue differs at the start
    np.testing.assert_array_equal(runs[0][-1]["rgb"], runs[1][-1]["rgb"])  # and is gone later
    assert runs[0][-1]["goal"].tolist() == runs[1][-1]["goal"].tolist()


def test_multiobject_goal_sequence_and_wrong_stop(envs):
    env = envs["multiobject"]
    obs = env.reset(2)
    first, second = env.layout["first"], env.layout["second"]
    assert obs["goal"].tolist() == np.eye(4)[first].tolist()
    goals_seen = []
    done = False
    while not done:
        action = env.expert_action()
        obs, done = env.step(action)
        if action == STOP:
            goals_seen.append(obs["goal"].tolist())
    # After A is found the goal names B; after B it says only "return" (no colour).
    assert goals_seen[:2] == [np.eye(4)[second].tolist(), [0, 0, 0, 1]]
    assert env.episode.goals[0].position == env.episode.goals[2].position
    env.reset(2)
    assert env.geodesic_distance_to_goal() > 0
    _, done = env.step(STOP)  # not near A: the episode ends, nothing found
    assert done and env.goals_reached() == 0
    with pytest.raises(EnvError, match="after the episode ended"):
        env.step(MOVE_FORWARD)


def test_bad_actions_are_refused(envs):
    env = envs["tmaze"]
    env.reset(0)
    with pytest.raises(EnvError, match="action must be an id"):
        env.step(len(ACTIONS))


def test_step_limit_ends_the_episode():
    env = make_env("tmaze", max_steps=3, depth=False)
    try:
        env.reset(0)
        dones = [env.step(TURN_LEFT)[1] for _ in range(3)]
        assert dones == [False, False, True]
        assert env.goals_reached() == 0
    finally:
        env.close()


@pytest.mark.slow  # a fresh interpreter imports torch and MiniWorld
def test_torch_training_after_rendering_does_not_crash():
    """Mesa's LLVM and triton's LLVM clash unless triton loads first (a SIGSEGV in torch.optim)."""
    code = (
        "from robot.envs import make_env\n"
        "env = make_env('tmaze'); env.reset(0)\n"
        "import torch\n"
        "net = torch.nn.Linear(3, 1); opt = torch.optim.Adam(net.parameters())\n"
        "net(torch.ones(3)).sum().backward(); opt.step()\n"
        "print(env.reset(1)['rgb'].std() > 5)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
