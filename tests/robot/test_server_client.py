"""The thin client stands alone: importing it pulls in neither torch nor anything of vidmem."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from robot.client import WireError, packb, unpackb


def test_importing_the_client_imports_no_torch_and_nothing_of_ours():
    code = (
        "import sys, json; import robot.client; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'vidmem', 'encoders', 'eval', 'demos') or m.startswith(('robot.serving', 'robot.policies', "
        "'robot.memory', 'robot.envs')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []


def test_wire_round_trip_keeps_dtype_shape_and_scalars():
    message = {
        "rgb": np.arange(24, dtype=np.uint8).reshape(2, 4, 3),
        "depth": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3, 1),
        "step": np.int64(7),
        "nested": {"q": np.array([1.5, -2.0])},
        "text": "go left",
    }
    back = unpackb(packb(message))
    for key in ("rgb", "depth"):
        assert back[key].dtype == message[key].dtype and back[key].shape == message[key].shape
        np.testing.assert_array_equal(back[key], message[key])
    assert back["step"] == 7 and back["step"].dtype == np.int64
    np.testing.assert_array_equal(back["nested"]["q"], [1.5, -2.0])
    assert back["text"] == "go left"


def test_wire_refuses_to_send_object_arrays():
    with pytest.raises(WireError, match="cannot send dtype object"):
        packb({"x": np.array([{"a": 1}], dtype=object)})


def test_client_reconnects_to_a_restarted_server_and_keeps_its_episode_id():
    from robot.client import PolicyClient
    from tests.robot.server_fixtures import CountingPolicy, observation, running_server

    with running_server(CountingPolicy()) as (_, port):
        client = PolicyClient(port=port, episode_id="rover", backoff_s=0.01)
        assert client.infer(observation())["actions"].tolist() == [1]
    # Same port, a fresh server (memory is per process): the client's next call reconnects.
    with running_server(CountingPolicy(), port_override=port) as (server, _):
        reply = client.infer(observation())
        assert reply["actions"].tolist() == [1] and reply["episode_id"] == "rover"
        assert "id:rover" in server.episodes
    client.close()


def test_client_gives_up_with_a_clear_error_when_nothing_listens():
    import socket

    from robot.client import PolicyClient

    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match="unreachable after 3 tries"):
        PolicyClient(port=port, retries=2, backoff_s=0.01)


def test_wire_refuses_a_shape_whose_byte_count_overflows_int64():
    import msgpack

    # 2**64 bytes wraps to 0 in int64 arithmetic; it must not pass as matching empty data.
    huge = {b"__ndarray__": True, b"data": b"", b"dtype": "|u1", b"shape": [2**32, 2**32]}
    with pytest.raises(WireError, match="needs 18446744073709551616 bytes, got 0"):
        unpackb(msgpack.packb({"x": huge}))
