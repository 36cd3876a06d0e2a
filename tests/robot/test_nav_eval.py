"""``vidmem nav-eval``: the JSON contract, same episodes for every agent, plots and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from eval.nav_eval import NavEvalError, run_episode
from robot.envs import make_env
from vidmem.cli import main


def nav_eval(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["nav-eval", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_reports_every_agent_on_the_same_episodes(capsys, tmp_path):
    code, out, _ = nav_eval(
        capsys, "--env", "tmaze", "--agent", "random", "--agent", "expert", "--episodes", "2", "--seed", "3", "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["env"] == "tmaze" and report["episodes"] == 2 and report["seed"] == 3
    assert list(report["agents"]) == ["random", "expert"]
    for row in report["agents"].values():
        for key in ("success", "spl", "softspl"):
            assert 0.0 <= row[key] <= 1.0
        assert row["distance_to_goal"] >= 0 and row["episodes"] == 2
    assert report["agents"]["expert"]["success"] == 1.0
    assert report["agents"]["expert"]["spl"] == pytest.approx(1.0)
    assert report["agents"]["expert"]["distance_to_goal"] == 0.0
    # Seeded: the random agent scores the same on a second run.
    again = json.loads(
        nav_eval(capsys, "--env", "tmaze", "--agent", "random", "--episodes", "2", "--seed", "3", "--json")[1]
    )
    assert again["agents"]["random"] == report["agents"]["random"]


def test_table_and_plots(capsys, tmp_path):
    plots = tmp_path / "plots"
    code, out, _ = nav_eval(
        capsys,
        "--env",
        "multiobject",
        "--agent",
        "expert",
        "--episodes",
        "3",
        "--plot",
        str(plots),
        "--plot-episodes",
        "2",
    )
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["agent", "success", "95%"]
    assert "expert" in out and "1.00" in out
    pngs = sorted(plots.glob("*.png"))
    assert [p.name for p in pngs] == ["multiobject_expert_ep50000.png", "multiobject_expert_ep50001.png"]
    with Image.open(pngs[0]) as image:
        assert image.size[0] > 200 and np.asarray(image.convert("L")).std() > 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "tmase", "--agent", "random"], "unknown environment 'tmase'; did you mean 'tmaze'"),
        (["--env", "tmaze", "--agent", "bnak"], "unknown agent 'bnak'; did you mean 'bank'"),
        (["--env", "tmaze", "--agent", "missing/ckpt.pt"], "does not exist"),
        (["--env", "tmaze", "--agent", "random", "--agent", "random"], "listed twice"),
        (["--env", "tmaze", "--agent", "random", "--episodes", "0"], "--episodes must be >= 1"),
        (["--env", "cue_reach", "--agent", "random"], "not a discrete navigation env"),
    ],
)
def test_bad_requests_give_one_line_errors(capsys, args, message):
    extra = [] if "--episodes" in args else ["--episodes", "1"]
    code, out, err = nav_eval(capsys, *args, *extra)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_checkpoint_for_other_observations_is_refused(capsys, tmp_path):
    from robot.policies import load_policy

    checkpoint = tmp_path / "tiny.pt"
    load_policy("tiny").save(checkpoint)  # trained for 64x64 images, tmaze renders 60x80
    code, _, err = nav_eval(capsys, "--env", "tmaze", "--agent", str(checkpoint), "--episodes", "1")
    assert code == 2
    assert "expects 'rgb'" in err and "[60, 80, 3]" in err and len(err.strip().splitlines()) == 1


def test_a_crash_mid_episode_names_the_episode_and_step():
    class Flaky:
        name = "flaky"

        def reset(self, episode_seed):
            self.steps = 0

        def act(self, obs):
            self.steps += 1
            if self.steps == 3:
                raise ValueError("observation 'rgb' has shape (1, 2)\n(bad camera)")
            return 2  # turn left

        def memory_steps(self):
            return []

    env = make_env("tmaze", depth=False)
    try:
        with pytest.raises(NavEvalError, match=r"agent 'flaky' failed in episode tmaze-7 at step 2: .*bad camera"):
            run_episode(env, Flaky(), seed=7)
    finally:
        env.close()


def test_memory_agents_come_from_the_checkpoint_cache(capsys, tmp_path, monkeypatch):
    """A current cached checkpoint is used as is (no training); one of another architecture is refused."""
    from robot.policies import build_policy
    from robot.policies.checkpoint import save_checkpoint
    from robot.policies.train import TrainConfig, cached_checkpoint, config_for_env, recipe_id

    monkeypatch.setenv("VIDMEM_HOME", str(tmp_path))
    env = make_env("tmaze", depth=False)
    try:
        nomemory = build_policy(config_for_env("nomemory", env))
        wrong = build_policy(config_for_env("bank", env))
        spatial_recipe = recipe_id(TrainConfig(), config_for_env("spatial", env))
        nomemory_recipe = recipe_id(TrainConfig(), config_for_env("nomemory", env))
    finally:
        env.close()
    save_checkpoint(nomemory, cached_checkpoint("tmaze", "nomemory"), info={"recipe": nomemory_recipe})
    code, out, err = nav_eval(capsys, "--env", "tmaze", "--agent", "nomemory", "--episodes", "1", "--json")
    assert code == 0 and json.loads(out)["agents"]["nomemory"]["episodes"] == 1 and "training" not in err
    # A bank network filed under "spatial" with spatial's recipe: the architecture check still refuses it.
    save_checkpoint(wrong, cached_checkpoint("tmaze", "spatial"), info={"recipe": spatial_recipe})
    code, _, err = nav_eval(capsys, "--env", "tmaze", "--agent", "spatial", "--episodes", "1")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "another architecture" in err and "memory='bank'" in err


def test_a_cached_checkpoint_of_another_recipe_is_retrained(capsys, tmp_path, monkeypatch):
    """Checkpoints from before recipes were recorded, or made with other defaults, are retrained, saying why."""
    import functools

    import robot.policies.train as train
    from robot.policies import build_policy
    from robot.policies.checkpoint import read_checkpoint
    from robot.policies.train import cached_checkpoint, config_for_env

    monkeypatch.setenv("VIDMEM_HOME", str(tmp_path))
    tiny = functools.partial(
        train.TrainConfig, episodes=2, epochs=1, batch_size=2, dagger_rounds=1, dagger_episodes=1, dagger_epochs=1
    )
    monkeypatch.setattr(train, "TrainConfig", tiny)  # nav-eval's "defaults", small enough for a test
    path = cached_checkpoint("tmaze", "nomemory")
    env = make_env("tmaze", depth=False)
    try:
        build_policy(config_for_env("nomemory", env)).save(path)  # an old cache entry: no recipe recorded
        expected = train.recipe_id(tiny(), config_for_env("nomemory", env))
    finally:
        env.close()
    args = ("--env", "tmaze", "--agent", "nomemory", "--episodes", "1", "--json")
    code, _, err = nav_eval(capsys, *args)
    assert code == 0 and "training nomemory on tmaze" in err and "another recipe" in err
    header = read_checkpoint(path)[2]
    assert header["trained"] and header["info"]["recipe"] == expected
    assert len(header["info"]["dagger"]) == 1 and header["info"]["dagger"][0]["episodes"] == 3
    code, _, err = nav_eval(capsys, *args)
    assert code == 0 and "training" not in err  # current: reused
    monkeypatch.setattr(train, "TrainConfig", functools.partial(tiny, epochs=2))  # the defaults change
    code, _, err = nav_eval(capsys, *args)
    assert code == 0 and "another recipe" in err
    assert read_checkpoint(path)[2]["info"]["train_config"]["epochs"] == 2


def test_policy_agent_reports_what_its_memory_holds():
    """The plot marks memory entries at the steps they were written (bank: one entry per step)."""
    from eval.nav_eval import PolicyAgent
    from robot.policies import build_policy
    from robot.policies.train import config_for_env

    env = make_env("tmaze", depth=False)
    try:
        agent = PolicyAgent("bank", build_policy(config_for_env("bank", env)))
        obs = env.reset(0)
        agent.reset(0)
        for _ in range(5):
            obs, _ = env.step(2)  # keep turning: the episode cannot end
            agent.act(obs)
        assert sorted(agent.memory_steps()) == [0.0, 1.0, 2.0, 3.0, 4.0]
        agent.reset(1)
        assert agent.memory_steps() == []
    finally:
        env.close()
