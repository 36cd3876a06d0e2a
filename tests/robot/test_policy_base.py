"""MemoryPolicy contract: metadata, validation errors, per-episode state, batched == single inference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from robot.policies import EpisodeState, ObservationError, load_policy


@pytest.fixture(scope="module")
def tiny():
    return load_policy("tiny")


def test_tiny_metadata_describes_inputs_and_outputs(tiny):
    meta = tiny.metadata()
    assert meta["policy"] == "tiny"
    assert meta["trained"] is False
    assert meta["inputs"]["rgb"] == {"shape": [64, 64, 3], "dtype": "uint8"}
    assert meta["inputs"]["gps_compass"] == {"shape": [3], "dtype": "float32"}
    assert meta["outputs"]["actions"] == {"shape": [1], "dtype": "int64"}
    assert meta["action_names"] == ["stop", "move_forward", "turn_left", "turn_right"]


def test_tiny_is_the_same_network_every_time(tiny, make_obs):
    other = load_policy("tiny")
    obs = make_obs(tiny)
    a = tiny.infer_batch([obs], [tiny.new_state(seed=1)])[0]
    b = other.infer_batch([obs], [other.new_state(seed=1)])[0]
    np.testing.assert_array_equal(a["logits"], b["logits"])


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda o: o.pop("rgb"), "missing key 'rgb'"),
        (lambda o: o.__setitem__("rgb", o["rgb"].astype(np.float32)), "'rgb' has dtype float32"),
        (lambda o: o.__setitem__("rgb", o["rgb"][:32]), "'rgb' has shape [32, 64, 3]"),
        (lambda o: o.__setitem__("goal", np.array([None] * 4, dtype=object)), "'goal' has dtype object"),
        (lambda o: o.__setitem__("gps_compass", np.array([1, 2, 3])), "'gps_compass' has dtype int64"),
        (lambda o: o.__setitem__("gps_compass", np.array([np.nan, 0, 0], np.float32)), "NaN"),
        (lambda o: o.__setitem__("goal", [0.0, 1.0, 0.0, 0.0]), "must be a numpy array"),
    ],
)
def test_bad_observations_give_one_line_errors(tiny, make_obs, mutate, fragment):
    obs = make_obs(tiny)
    mutate(obs)
    with pytest.raises(ObservationError) as info:
        tiny.validate(obs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_validate_ignores_extra_keys_and_widens_floats(tiny, make_obs):
    obs = make_obs(tiny)
    obs["depth"] = np.zeros((64, 64, 1), np.float32)
    obs["gps_compass"] = obs["gps_compass"].astype(np.float64)
    checked = tiny.validate(obs)
    assert set(checked) == {"rgb", "gps_compass", "goal"}
    assert checked["gps_compass"].dtype == np.float32


def test_state_grows_with_steps_and_is_per_episode(tiny, make_obs):
    state = tiny.new_state()
    assert isinstance(state, EpisodeState)
    assert state.nbytes > 0
    untouched = tiny.new_state()
    before = {k: v.clone() for k, v in untouched.memory.items()}
    for i in range(3):
        out = tiny.infer_batch([make_obs(tiny, i)], [state])[0]
        assert out["actions"].dtype == np.int64 and out["actions"].shape == (1,)
    assert state.step == 3
    assert int(state.memory["valid"].sum()) == 3
    assert all((untouched.memory[k] == before[k]).all() for k in before)


def test_infer_batch_equals_per_episode_infer(tiny, make_obs):
    """Three episodes at different depths, batched, give what each gives alone (no mixing)."""
    episodes = [[make_obs(tiny, 100 * e + s) for s in range(2 + 3 * e)] for e in range(3)]
    alone = []
    for steps in episodes:
        tiny.reset()
        alone.append([tiny.infer(o) for o in steps])
    states = [tiny.new_state() for _ in episodes]
    batched = [[] for _ in episodes]
    for s in range(max(len(e) for e in episodes)):
        live = [i for i, e in enumerate(episodes) if s < len(e)]
        outs = tiny.infer_batch([episodes[i][s] for i in live], [states[i] for i in live])
        for i, out in zip(live, outs, strict=True):
            batched[i].append(out)
    for a_eps, b_eps in zip(alone, batched, strict=True):
        for a, b in zip(a_eps, b_eps, strict=True):
            np.testing.assert_array_equal(a["actions"], b["actions"])
            np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-5)


def test_reset_forgets_the_episode(tiny, make_obs):
    obs = make_obs(tiny, 7)
    tiny.reset()
    first = tiny.infer(obs)["logits"]
    for i in range(4):
        tiny.infer(make_obs(tiny, i))
    tiny.reset()
    np.testing.assert_allclose(tiny.infer(obs)["logits"], first, atol=1e-6)


def test_importing_robot_policies_does_not_import_torch():
    code = "import sys, robot.policies, robot.memory; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("memory", ["spatial", "chunks", "nomemory"])
def test_every_memory_type_batches_without_mixing(memory, make_obs):
    policy = load_policy("tiny") if memory == "bank" else _small(memory)
    seqs = [[make_obs(policy, 10 * e + s) for s in range(6)] for e in range(2)]
    alone = []
    for seq in seqs:
        policy.reset()
        alone.append([policy.infer(o)["logits"] for o in seq])
    states = [policy.new_state() for _ in seqs]
    for s in range(6):
        outs = policy.infer_batch([seq[s] for seq in seqs], states)
        for e, out in enumerate(outs):
            np.testing.assert_allclose(out["logits"], alone[e][s], atol=1e-5)


def _small(memory: str):
    from robot.policies import build_policy

    return build_policy(memory, dim=16, capacity=4, spatial_k=2, chunk_size=2, max_chunks=4)


def test_random_policy_is_seeded_per_episode(make_obs):
    policy = load_policy("random")
    obs = make_obs(policy)
    runs = []
    for _ in range(2):
        state = policy.new_state(seed=3)
        runs.append([int(policy.infer_batch([obs], [state])[0]["actions"][0]) for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) <= {0, 1, 2, 3} and len(set(runs[0])) > 1
