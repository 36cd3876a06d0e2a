"""The policy server with real websocket clients: round trip, episodes, eviction, batching, API key."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from robot.client import PolicyClient, ServerError
from robot.serving.episodes import EpisodeLimitError, EpisodeRegistry
from tests.robot.server_fixtures import CountingPolicy, http_get, observation, running_server, stats, wait_until


def test_round_trip_metadata_and_reply():
    policy = CountingPolicy()
    with running_server(policy) as (_, port), PolicyClient(port=port) as client:
        assert client.metadata["inputs"] == {
            "rgb": {"shape": [8, 8, 3], "dtype": "uint8"},
            "goal": {"shape": [4], "dtype": "float32"},
        }
        assert client.metadata["outputs"]["actions"] == {"shape": [1], "dtype": "int64"}
        reply = client.infer(observation(goal=0.5))
        assert reply["actions"].dtype == np.int64 and reply["actions"].tolist() == [1]
        np.testing.assert_array_equal(reply["goal_sum"], np.full(4, 0.5, np.float32))
        assert reply["server_timing"]["infer_ms"] >= 0 and reply["server_timing"]["batch_size"] == 1
        assert client.infer(observation(goal=0.5))["actions"].tolist() == [2]


def test_two_clients_keep_separate_memories_and_reset_clears_one():
    with running_server(CountingPolicy()) as (_, port), PolicyClient(port=port) as a, PolicyClient(port=port) as b:
        for _ in range(3):
            a.infer(observation(goal=1.0))
        reply_b = b.infer(observation(goal=10.0))
        assert reply_b["actions"].tolist() == [1]
        np.testing.assert_array_equal(reply_b["goal_sum"], np.full(4, 10.0))
        reply_a = a.infer(observation(goal=1.0))
        assert reply_a["actions"].tolist() == [4]
        np.testing.assert_array_equal(reply_a["goal_sum"], np.full(4, 4.0))

        a.reset()
        assert a.infer(observation(goal=2.0))["actions"].tolist() == [1]
        assert b.infer(observation(goal=10.0))["actions"].tolist() == [2]  # b untouched by a's reset
        # reset flag on an observation: clear, then step
        assert b.infer(observation(goal=3.0), reset=True)["goal_sum"].tolist() == [3.0] * 4


def test_episode_id_outlives_its_connection_but_a_connection_episode_does_not():
    with running_server(CountingPolicy()) as (server, port):
        with PolicyClient(port=port, episode_id="robot-7") as first:
            first.infer(observation())
        with PolicyClient(port=port, episode_id="robot-7") as again:
            assert again.infer(observation())["actions"].tolist() == [2]
        assert "id:robot-7" in server.episodes


def test_without_episode_id_each_connection_is_one_episode():
    from websockets.sync.client import connect

    from robot.client import packb, unpackb

    with running_server(CountingPolicy()) as (server, port):
        for _ in range(2):  # a second connection starts from an empty memory
            with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
                ws.recv(timeout=10)
                steps = [int(unpackb(_ask(ws, packb(observation())))["actions"][0]) for _ in range(2)]
                assert steps == [1, 2] and len(server.episodes) == 1
            wait_until(lambda: len(server.episodes) == 0, what="connection episode dropped on close")


def _ask(ws, payload: bytes) -> bytes:
    ws.send(payload)
    return ws.recv(timeout=10)


def test_idle_episode_is_evicted_and_restarts_fresh():
    now = [1000.0]
    with running_server(CountingPolicy(), clock=lambda: now[0], idle_timeout_s=60.0) as (server, port):
        old, busy = PolicyClient(port=port, episode_id="old"), PolicyClient(port=port, episode_id="busy")
        old.infer(observation())
        old.infer(observation())
        now[0] += 61.0
        busy.infer(observation())  # any request sweeps idle episodes
        assert "id:old" not in server.episodes and "id:busy" in server.episodes
        assert stats(port)["episodes_evicted"] == 1
        assert old.infer(observation())["actions"].tolist() == [1]
        old.close()
        busy.close()


def test_beyond_max_episodes_the_least_recently_used_episode_goes():
    with running_server(CountingPolicy(), max_episodes=2) as (server, port):
        robots = {name: PolicyClient(port=port, episode_id=name) for name in ("a", "b", "c")}
        robots["a"].infer(observation())
        robots["b"].infer(observation())
        robots["a"].infer(observation())  # a is now more recently used than b
        robots["c"].infer(observation())  # evicts b
        assert "id:a" in server.episodes and "id:c" in server.episodes and "id:b" not in server.episodes
        assert server.episodes.evicted == 1
        assert robots["a"].infer(observation())["actions"].tolist() == [3]
        assert robots["b"].infer(observation())["actions"].tolist() == [1]  # b starts over (c goes)
        for r in robots.values():
            r.close()


def test_a_busy_episode_is_never_evicted_for_a_new_one():
    registry = EpisodeRegistry(CountingPolicy().new_state, idle_timeout_s=60, max_episodes=1)

    async def while_busy():
        async with registry.get("busy").lock:
            with pytest.raises(EpisodeLimitError, match="all 1 live episodes are busy"):
                registry.get("new")
        return registry.get("new")

    assert asyncio.run(while_busy()).key == "new" and "busy" not in registry


def test_simultaneous_episodes_share_one_batch_each_with_its_own_answer():
    policy = CountingPolicy()
    # max_wait is long, max_batch 2, no adaptive wait: the batch closes exactly when the second arrives.
    with running_server(policy, max_batch=2, max_wait_ms=20_000, adaptive_wait=False) as (_, port):
        clients = [PolicyClient(port=port) for _ in range(2)]
        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda c, g: c.infer(observation(goal=g)), clients, [1.0, 7.0]))
        assert [r["server_timing"]["batch_size"] for r in replies] == [2, 2]
        assert [r["goal_sum"][0] for r in replies] == [1.0, 7.0]
        assert stats(port)["batch_sizes"] == {"2": 1}
        assert len(policy.batches) == 1 and len(set(policy.batches[0])) == 2
        for c in clients:
            c.close()


def test_a_lone_robot_does_not_wait_for_company():
    # max_wait is long: were the batcher to wait for a second robot, this would take 20 s per step.
    with running_server(CountingPolicy(), max_batch=8, max_wait_ms=20_000) as (_, port), PolicyClient(port=port) as c:
        for step in (1, 2, 3):
            reply = c.infer(observation())
            assert reply["actions"][0] == step and reply["server_timing"]["queue_ms"] < 10_000


def test_two_requests_of_one_episode_are_never_batched_together():
    policy = CountingPolicy()
    with running_server(policy, max_batch=8, max_wait_ms=50) as (_, port):
        clients = [PolicyClient(port=port, episode_id="shared") for _ in range(2)]
        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda c: c.infer(observation()), clients))
        assert sorted(r["actions"][0] for r in replies) == [1, 2]  # ordered steps of one memory
        assert stats(port)["batch_sizes"] == {"1": 2}
        for c in clients:
            c.close()


def test_api_key_refuses_missing_and_wrong_keys_before_any_episode():
    with running_server(CountingPolicy(), api_key="s3cret") as (server, port):
        with pytest.raises(ConnectionError, match="401"):
            PolicyClient(port=port, retries=0)
        with pytest.raises(ConnectionError, match="403"):
            PolicyClient(port=port, api_key="wrong", retries=0)
        assert len(server.episodes) == 0 and server.counters["connections"] == 0
        assert http_get(port, "/stats")[0] == 401
        with PolicyClient(port=port, api_key="s3cret") as client:
            assert client.infer(observation())["actions"].tolist() == [1]
        assert stats(port, {"Authorization": "Api-Key s3cret"})["refused"] == 3


def test_resent_request_is_answered_without_stepping_twice():
    with running_server(CountingPolicy()) as (_, port), PolicyClient(port=port) as client:
        client.infer(observation())
        # Simulate a reply lost in transit: the client resends the same request_id.
        client._request_id -= 1
        assert client.infer(observation())["actions"].tolist() == [1]
        assert client.infer(observation())["actions"].tolist() == [2]


def test_client_reports_server_errors_as_server_error():
    with (
        running_server(CountingPolicy()) as (_, port),
        PolicyClient(port=port) as client,
        pytest.raises(ServerError, match="missing key 'goal'"),
    ):
        client.infer({"rgb": np.zeros((8, 8, 3), np.uint8)})
