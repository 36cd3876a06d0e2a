"""The policy server with the real ``tiny`` policy: batching keeps each episode's memory its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from robot.client import PolicyClient
from robot.policies import load_policy
from tests.robot.server_fixtures import running_server, wait_healthy


@pytest.fixture(scope="module")
def tiny():
    import torch

    torch.set_num_threads(1)
    return load_policy("tiny")


def test_batched_episodes_match_each_episode_served_alone(tiny, make_obs):
    steps = 3
    episodes = {name: [make_obs(tiny, seed=10 * i + t) for t in range(steps)] for i, name in enumerate("ab")}
    reference = {}
    for name, seq in episodes.items():
        tiny.reset()
        reference[name] = [tiny.infer(obs)["logits"] for obs in seq]
    tiny.reset()
    # the memory matters: the last step's logits differ from the same observation on a fresh memory
    fresh = tiny.infer(episodes["a"][-1])["logits"]
    tiny.reset()
    assert not np.allclose(fresh, reference["a"][-1], atol=1e-4)

    with running_server(load_policy("tiny"), max_batch=2, max_wait_ms=20_000, adaptive_wait=False) as (_, port):
        clients = {name: PolicyClient(port=port) for name in episodes}

        def step_both(t: int) -> dict:
            step = {n: (clients[n], episodes[n][t]) for n in episodes}
            return dict(zip(step, pool.map(lambda pair: pair[0].infer(pair[1]), step.values()), strict=True))

        with ThreadPoolExecutor(2) as pool:
            for t in range(steps):
                for name, reply in step_both(t).items():
                    assert reply["server_timing"]["batch_size"] == 2
                    assert reply["actions"].dtype == np.int64 and reply["actions"].shape == (1,)
                    np.testing.assert_allclose(reply["logits"], reference[name][t], atol=1e-4)
            for c in clients.values():
                c.reset()
            for name, reply in step_both(0).items():  # after reset: as on a fresh memory
                np.testing.assert_allclose(reply["logits"], reference[name][0], atol=1e-4)
        for c in clients.values():
            c.close()


def test_tiny_metadata_names_inputs_and_refuses_a_wrong_image(tiny, make_obs):
    with running_server(tiny) as (_, port), PolicyClient(port=port) as client:
        assert client.metadata["inputs"]["rgb"] == {"shape": [64, 64, 3], "dtype": "uint8"}
        assert client.metadata["outputs"]["actions"]["dtype"] == "int64"
        obs = make_obs(tiny, 0)
        with pytest.raises(RuntimeError, match="'rgb'"):
            client.infer({**obs, "rgb": np.zeros((32, 32, 3), np.uint8)})
        assert 0 <= int(client.infer(obs)["actions"][0]) < 4


def test_serve_policy_command_serves_tiny_until_stopped(tiny, make_obs):
    env = {**os.environ, "VIDMEM_API_KEY": "from-env", "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "vidmem.cli",
        "serve-policy",
        "--policy",
        "tiny",
        "--port",
        "0",
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        port = int(match.group(1))
        wait_healthy(port)
        with pytest.raises(ConnectionError, match="401"):
            PolicyClient(port=port, retries=0)
        with PolicyClient(port=port, api_key="from-env") as client:
            assert client.metadata["policy"] == "tiny"
            assert client.infer(make_obs(tiny, 1))["actions"].shape == (1,)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_policy_unknown_name_is_one_line_error():
    done = subprocess.run(
        [sys.executable, "-m", "vidmem.cli", "serve-policy", "--policy", "tinyy"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: unknown policy 'tinyy'") and "did you mean 'tiny'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
