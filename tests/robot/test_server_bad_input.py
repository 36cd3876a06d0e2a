"""Bad input never crashes the policy server: a clear error reply, a log line, other episodes go on."""

from __future__ import annotations

import logging
import threading

import msgpack
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from robot.client import PolicyClient, packb
from tests.robot.server_fixtures import CountingPolicy, http_get, observation, running_server, stats, wait_until


def raw_connection(port: int):
    ws = connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None, legacy=True)
    ws.recv(timeout=10)  # metadata
    return ws


def ask(ws, payload: bytes | str) -> bytes | str:
    ws.send(payload)
    return ws.recv(timeout=10)


def array_map(data: bytes, dtype: str, shape: list) -> dict:
    return {b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape}


BAD_MESSAGES = {
    "malformed msgpack": (b"\xc1\x00garbage", "malformed msgpack"),
    "text frame": ("hello", "expected a binary msgpack frame"),
    "not a map": (msgpack.packb([1, 2, 3]), "expected a msgpack map"),
    "wrong dtype": (packb({**observation(), "rgb": np.zeros((8, 8, 3), np.float32)}), "'rgb' must be uint8"),
    "wrong shape": (packb({**observation(), "goal": np.zeros(5, np.float32)}), "'goal' must have shape [4]"),
    "missing key": (packb({"rgb": observation()["rgb"]}), "missing key 'goal'"),
    "object dtype": (packb({"rgb": array_map(b"\x00" * 8, "|O", [1])}), "not allowed"),
    "string dtype": (packb({"rgb": array_map(b"abcd", "<U1", [1])}), "not allowed"),
    "bytes do not match shape": (packb({"rgb": array_map(b"\x00" * 10, "|u1", [8, 8, 3])}), "needs 192 bytes"),
    "negative shape": (packb({"rgb": array_map(b"", "|u1", [-1])}), "non-negative"),
    "bad episode id": (packb({**observation(), "episode_id": [1, 2]}), "episode_id must be"),
    "bad reset": (packb({**observation(), "reset": "yes"}), "reset must be a boolean"),
}


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_bad_message_gets_an_error_reply_and_the_connection_goes_on(name, caplog):
    payload, expected = BAD_MESSAGES[name]
    with running_server(CountingPolicy()) as (_, port), PolicyClient(port=port) as bystander:
        bystander.infer(observation())
        ws = raw_connection(port)
        with caplog.at_level(logging.WARNING, logger="robot.serving"):
            reply = ask(ws, payload)
        assert isinstance(reply, str) and reply.startswith("error: ") and expected in reply, reply
        assert any(expected in r.getMessage() for r in caplog.records)
        # same socket, a good request now: served, in its own fresh episode
        good = msgpack.unpackb(ask(ws, packb(observation())), raw=False)
        assert good["actions"][b"data"] == np.array([1], np.int64).tobytes()
        assert bystander.infer(observation())["actions"].tolist() == [2]
        ws.close()


def test_extra_keys_are_ignored_and_logged_once(caplog):
    with running_server(CountingPolicy()) as (_, port), PolicyClient(port=port) as client:
        with caplog.at_level(logging.WARNING, logger="robot.serving"):
            for step in (1, 2):
                reply = client.infer({**observation(), "tactile": np.ones(3, np.float32)})
                assert reply["actions"].tolist() == [step]
        assert sum("tactile" in r.getMessage() for r in caplog.records) == 1


def test_oversized_frame_closes_only_that_connection(caplog):
    with running_server(CountingPolicy(), max_message_bytes=2048) as (server, port), PolicyClient(port=port) as other:
        other.infer(observation())
        ws = raw_connection(port)
        with caplog.at_level(logging.WARNING, logger="robot.serving"):
            ws.send(packb({"rgb": np.zeros(4096, np.uint8)}))
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv(timeout=10)
            wait_until(lambda: server.counters["errors"] == 1, what="oversize logged")
        assert info.value.rcvd.code == 1009 and "2048" in info.value.rcvd.reason, info.value.rcvd.reason
        assert any("2048" in r.getMessage() for r in caplog.records)
        assert other.infer(observation())["actions"].tolist() == [2]


def test_client_vanishing_mid_request_leaves_the_server_serving():
    policy = CountingPolicy()
    policy.gate = threading.Event()
    with running_server(policy) as (server, port):
        ws = raw_connection(port)
        ws.send(packb(observation()))
        assert policy.entered.wait(10)
        ws.close()  # gone while its step is in the forward pass
        policy.gate.set()
        wait_until(lambda: server.counters["vanished"] == 1, what="vanished client seen")
        wait_until(lambda: len(server.episodes) == 0, what="connection episode dropped")
        assert len(policy.batches) == 1
        with PolicyClient(port=port) as client:
            assert client.infer(observation())["actions"].tolist() == [1]
        assert http_get(port, "/healthz")[0] == 200


class FailingPolicy(CountingPolicy):
    def infer_batch(self, observations, states):
        if any(o["goal"][0] < 0 for o in observations):
            raise FloatingPointError("negative goal")
        return super().infer_batch(observations, states)


def test_policy_failure_is_an_error_reply_not_a_crash():
    with running_server(FailingPolicy()) as (_, port), PolicyClient(port=port) as client:
        with pytest.raises(RuntimeError, match="policy failed: negative goal"):
            client.infer(observation(goal=-1.0))
        assert client.infer(observation(goal=1.0))["actions"].tolist() == [1]
        assert stats(port)["errors"] == 1
