"""Behaviour cloning, the cue task, the diffusion head, checkpoints and the trained-checkpoint cache."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from robot.envs.base import EnvError, make_env
from robot.policies import CheckpointError, build_policy, load_policy
from robot.policies.demos import record_demonstrations
from robot.policies.rollout import success_rate
from robot.policies.train import TrainConfig, behaviour_clone, cached_checkpoint, config_for_env, train_policy


def test_cue_disappears_and_the_expert_reaches_the_target():
    env = make_env("cue_reach")
    obs = env.reset(seed=5)
    target = env.episode.info["target"]
    assert obs["goal"][target] == 1.0 and obs["goal"][-1] == 1.0
    seen = [obs["goal"]]
    done = False
    while not done:
        obs, done = env.step(env.expert_action())
        seen.append(obs["goal"])
    assert all(g.any() for g in seen[:3]) and not any(g.any() for g in seen[3:])
    assert env.goals_reached() == 1 and env.geodesic_distance_to_goal() <= env.success_distance
    with pytest.raises(EnvError, match="after the episode ended"):
        env.step(np.zeros(2))


def test_cue_reach_rejects_bad_actions():
    env = make_env("cue_reach")
    env.reset(seed=0)
    with pytest.raises(EnvError, match="2 finite floats"):
        env.step(np.array([np.nan, 0.0]))


def test_demonstrations_record_expert_labels_and_future_chunks():
    env = make_env("cue_reach")
    demo = record_demonstrations(env, 1, seed=2)[0]
    assert demo.success and demo.observations["goal"].shape == (demo.length, 5)
    chunks = demo.action_chunks(3)
    assert chunks.shape == (demo.length, 3, 2)
    np.testing.assert_array_equal(chunks[0, 1], demo.actions[1])
    np.testing.assert_array_equal(chunks[-1, 1:], np.zeros((2, 2)))  # past the end the expert holds still
    assert np.abs(demo.actions[:3]).max() == 0.0  # the expert waits while the cue shows


def _cue_policy(env, memory: str, **kw):
    return dataclasses.replace(config_for_env(memory, env), dim=32, capacity=4, perceptual_tokens=2, ddim_steps=5, **kw)


@pytest.mark.slow
def test_diffusion_head_solves_the_cue_task_with_memory_and_not_without():
    torch.set_num_threads(1)
    env = make_env("cue_reach")
    train = TrainConfig(
        episodes=48, epochs=40, batch_size=16, lr=1e-2, seed=0, explore=0.2, dagger_rounds=0, progress=False
    )
    demos = record_demonstrations(env, train.episodes, seed=0, explore=train.explore)
    with_memory, _ = behaviour_clone(_cue_policy(env, "bank"), demos, train)
    without, _ = behaviour_clone(_cue_policy(env, "nomemory"), demos, train)
    assert with_memory.config.head == "diffusion"
    bank_rate, none_rate = success_rate(with_memory, env, 30), success_rate(without, env, 30)
    assert bank_rate >= none_rate + 0.25, (bank_rate, none_rate)


def test_ddim_sampling_steps_and_guidance_are_configurable(make_obs):
    env = make_env("cue_reach")
    base = _cue_policy(env, "bank", cond_dropout=0.2)
    obs = env.reset(seed=1)
    outs = {}
    for steps, guidance in [(1, 1.0), (5, 1.0), (5, 3.0)]:
        policy = build_policy(dataclasses.replace(base, ddim_steps=steps, guidance=guidance))
        outs[(steps, guidance)] = policy.infer_batch([obs], [policy.new_state(seed=4)])[0]["actions"]
        again = policy.infer_batch([obs], [policy.new_state(seed=4)])[0]["actions"]
        np.testing.assert_array_equal(outs[(steps, guidance)], again)  # noise is the episode's, seeded
    assert all(a.shape == (4, 2) and a.dtype == np.float32 and np.abs(a).max() <= 1.0 for a in outs.values())
    assert not np.allclose(outs[(1, 1.0)], outs[(5, 1.0)]) and not np.allclose(outs[(5, 1.0)], outs[(5, 3.0)])


def test_checkpoint_round_trip_keeps_config_and_outputs(tmp_path, make_obs):
    policy = build_policy("spatial", dim=16, capacity=4, spatial_k=2, image_size=(32, 32), goal_dim=3)
    path = tmp_path / "p.pt"
    policy.save(path)
    loaded = load_policy(path)
    assert loaded.config == policy.config and loaded.metadata() == policy.metadata()
    obs = make_obs(policy, 3)
    a = policy.infer_batch([obs], [policy.new_state(seed=1)])[0]
    b = loaded.infer_batch([obs], [loaded.new_state(seed=1)])[0]
    np.testing.assert_array_equal(a["logits"], b["logits"])
    assert load_policy(path, expect="spatial").config.memory == "spatial"


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "bank.pt"
    build_policy("bank", dim=16).save(path)
    with pytest.raises(CheckpointError, match="'bank' policy, another architecture than 'chunks'") as info:
        load_policy(path, expect="chunks")
    assert "memory='bank' (expected 'chunks')" in str(info.value) and "\n" not in str(info.value)


def test_non_checkpoints_are_refused_without_running_code(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a vidmem policy checkpoint"):
        load_policy(text)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(CheckpointError, match="not a vidmem policy checkpoint"):
        load_policy(evil)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": {}}, foreign)
    with pytest.raises(CheckpointError, match="format vidmem-policy/1 expected"):
        load_policy(foreign)
    with pytest.raises(CheckpointError, match="no policy checkpoint"):
        load_policy(tmp_path / "missing.pt")


class _Boom:
    def __reduce__(self):
        return (pytest.fail, ("a checkpoint ran code on load",))


def test_unknown_policy_names_suggest_close_ones():
    with pytest.raises(ValueError, match="did you mean 'spatial'"):
        load_policy("spatail")
    with pytest.raises(ValueError, match="train-policy"):
        load_policy("bank")


def test_train_policy_caches_a_trained_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDMEM_HOME", str(tmp_path))
    config = TrainConfig(episodes=4, epochs=2, batch_size=4, seed=3, dagger_rounds=0, progress=False)
    path = train_policy("cue_reach", "chunks", config)
    assert path == cached_checkpoint("cue_reach", "chunks") == tmp_path / "policies" / "cue_reach-chunks.pt"
    policy = load_policy(path, expect="chunks")
    assert policy.trained and policy.metadata()["trained"] is True
    assert policy.config.head == "diffusion" and policy.config.image_size is None


def test_behaviour_cloning_is_seeded():
    env = make_env("cue_reach")
    train = TrainConfig(episodes=4, epochs=2, batch_size=2, seed=1, dagger_rounds=0, progress=False)
    demos = record_demonstrations(env, 4, seed=1)
    a, stats = behaviour_clone(_cue_policy(env, "bank"), demos, train)
    b, _ = behaviour_clone(_cue_policy(env, "bank"), demos, train)
    for (name, x), (_, y) in zip(a.net.state_dict().items(), b.net.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert stats["expert_success"] == 1.0 and stats["steps"] == sum(d.length for d in demos)


def test_diffusion_infer_batch_equals_per_episode_infer():
    env = make_env("cue_reach")
    policy = build_policy(_cue_policy(env, "bank"))
    seeds = (11, 12, 13)
    episodes = []
    for s in seeds:
        obs = env.reset(seed=s)
        episodes.append([obs] + [env.step(env.expert_action())[0] for _ in range(3)])
    alone = []
    for s, steps in zip(seeds, episodes, strict=True):
        state = policy.new_state(seed=s)
        alone.append([policy.infer_batch([o], [state])[0]["actions"] for o in steps])
    states = [policy.new_state(seed=s) for s in seeds]
    for t in range(4):
        outs = policy.infer_batch([e[t] for e in episodes], states)
        for i, out in enumerate(outs):
            np.testing.assert_allclose(out["actions"], alone[i][t], atol=1e-5)
    assert not np.allclose(alone[0][3], alone[1][3])


def test_a_checkpoint_cloned_without_dagger_is_stale_under_the_defaults(tmp_path):
    """The defaults include DAgger, so a cache entry made by cloning alone is retrained, not reported."""
    from robot.policies.checkpoint import save_checkpoint
    from robot.policies.train import cache_staleness, recipe_id

    env = make_env("cue_reach")
    cfg = config_for_env("nomemory", env)
    policy = build_policy(cfg)
    cloned_only, defaults = tmp_path / "cloned.pt", tmp_path / "defaults.pt"
    save_checkpoint(policy, cloned_only, info={"recipe": recipe_id(TrainConfig(dagger_rounds=0), cfg)})
    save_checkpoint(policy, defaults, info={"recipe": recipe_id(TrainConfig(), cfg)})
    assert "another recipe" in cache_staleness(cloned_only, TrainConfig(), cfg)
    assert cache_staleness(defaults, TrainConfig(), cfg) == ""
    assert cache_staleness(cloned_only, TrainConfig(dagger_rounds=0), cfg) == ""
