"""The published ``openpi-client`` (its own venv, numpy < 2) drives the server unchanged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from robot.client import PolicyClient
from tests.robot.server_fixtures import CountingPolicy, observation, running_server

OPENPI_PYTHON = Path(__file__).resolve().parents[2] / ".venv-openpi" / "bin" / "python"

# Runs inside .venv-openpi: only openpi_client, numpy and the standard library there.
SCRIPT = r"""
import json, sys
import numpy as np
from openpi_client.websocket_client_policy import WebsocketClientPolicy

port, key = int(sys.argv[1]), sys.argv[2]
client = WebsocketClientPolicy(host="127.0.0.1", port=port, api_key=key)
obs = {"rgb": np.full((8, 8, 3), 3, np.uint8), "goal": np.full(4, 0.25, np.float32), "episode_id": "pi"}
first = client.infer(obs)
second = client.infer({**obs, "extra": np.float32(1.5)})
try:
    client.infer({"rgb": obs["rgb"]})
    error = None
except RuntimeError as exc:
    error = str(exc)
after_error = client.infer({**obs, "reset": np.bool_(True)})
meta = client.get_server_metadata()
print(json.dumps({
    "inputs": meta["inputs"], "policy": meta["policy"],
    "actions": [first["actions"].tolist(), second["actions"].tolist(), after_error["actions"].tolist()],
    "actions_dtype": str(first["actions"].dtype), "goal_sum": second["goal_sum"].tolist(),
    "infer_ms": first["server_timing"]["infer_ms"], "error": error,
}))
"""


def openpi_python() -> Path:
    assert OPENPI_PYTHON.exists(), (
        f"{OPENPI_PYTHON} is missing: run scripts/setup.sh, which creates .venv-openpi with PyPI openpi-client"
    )
    return OPENPI_PYTHON


def test_published_openpi_client_round_trip_with_api_key_and_errors():
    python = openpi_python()
    with running_server(CountingPolicy(), api_key="k3y") as (_, port):
        done = subprocess.run(
            [str(python), "-c", SCRIPT, str(port), "k3y"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        # the same episode seen by our own client: the openpi robot's memory is there
        with PolicyClient(port=port, api_key="k3y", episode_id="pi") as ours:
            assert ours.infer(observation())["actions"].tolist() == [2]
    assert result["policy"] == "counting"
    assert result["inputs"]["rgb"] == {"shape": [8, 8, 3], "dtype": "uint8"}
    assert result["actions"] == [[1], [2], [1]]  # third call carries reset
    assert result["actions_dtype"] == "int64"
    assert result["goal_sum"] == [0.5] * 4
    assert result["infer_ms"] >= 0
    assert "missing key 'goal'" in result["error"]


def test_published_openpi_client_is_refused_with_a_wrong_key():
    python = openpi_python()
    with running_server(CountingPolicy(), api_key="right") as (server, port):
        done = subprocess.run(
            [str(python), "-c", SCRIPT, str(port), "wrong"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode != 0 and "403" in done.stderr
        assert len(server.episodes) == 0


# A robot written from the metadata alone: it builds its observation from ``inputs``.
FROM_METADATA = r"""
import json, sys
import numpy as np
from openpi_client.websocket_client_policy import WebsocketClientPolicy

client = WebsocketClientPolicy(host="127.0.0.1", port=int(sys.argv[1]))
inputs = client.get_server_metadata()["inputs"]
obs = {k: np.ones(spec["shape"], dtype=spec["dtype"]) for k, spec in inputs.items()}
replies = [client.infer(obs) for _ in range(3)]
print(json.dumps({"actions": [r["actions"].tolist() for r in replies], "dtype": str(replies[0]["actions"].dtype),
                  "names": client.get_server_metadata()["action_names"]}))
"""


def test_published_openpi_client_drives_the_tiny_policy_from_its_metadata():
    import torch

    from robot.policies import load_policy

    torch.set_num_threads(1)
    python = openpi_python()
    with running_server(load_policy("tiny")) as (server, port):
        done = subprocess.run(
            [str(python), "-c", FROM_METADATA, str(port)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert server.counters["requests"] == 3 and server.counters["errors"] == 0
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dtype"] == "int64" and result["names"] == ["stop", "move_forward", "turn_left", "turn_right"]
    assert all(len(a) == 1 and 0 <= a[0] < 4 for a in result["actions"])
