"""Helpers for the policy-server tests: a small test-only policy and a real server on loopback."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator

import numpy as np

from robot.serving import PolicyServer, ServerConfig, ServerThread


class ObservationError(ValueError):
    """The interface's error for a bad observation (test stand-in)."""


class CountingState:
    """One episode's memory: the steps taken and the running sum of its goals."""

    def __init__(self) -> None:
        self.steps, self.goal_sum = 0, np.zeros(4, np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.goal_sum.nbytes)


class CountingPolicy:
    """Implements the ``MemoryPolicy`` interface with observable memory.

    ``actions`` int64 [1] = steps this episode has taken (1 on its first step); ``goal_sum`` float32 [4]
    = sum of the episode's goals so far. ``gate``, when set, holds each batch until released.
    """

    name = "counting"
    inputs = {"rgb": ((8, 8, 3), "uint8"), "goal": ((4,), "float32")}

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.batches: list[list[int]] = []

    def metadata(self) -> dict:
        return {
            "policy": self.name,
            "inputs": {k: {"shape": list(s), "dtype": d} for k, (s, d) in self.inputs.items()},
            "outputs": {"actions": {"shape": [1], "dtype": "int64"}, "goal_sum": {"shape": [4], "dtype": "float32"}},
        }

    def validate(self, obs: dict) -> dict:
        out = {}
        for key, (shape, dtype) in self.inputs.items():
            if key not in obs:
                raise ObservationError(f"observation is missing key '{key}'")
            value = obs[key]
            if not isinstance(value, np.ndarray) or value.dtype != np.dtype(dtype):
                raise ObservationError(f"'{key}' must be {dtype}, got {getattr(value, 'dtype', type(value).__name__)}")
            if value.shape != shape:
                raise ObservationError(f"'{key}' must have shape {list(shape)}, got {list(value.shape)}")
            out[key] = value
        return out

    def new_state(self) -> CountingState:
        return CountingState()

    def infer_batch(self, observations: list[dict], states: list[CountingState]) -> list[dict]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        self.batches.append([id(s) for s in states])
        outs = []
        for obs, state in zip(observations, states, strict=True):
            state.steps += 1
            state.goal_sum = state.goal_sum + obs["goal"]
            outs.append({"actions": np.array([state.steps], np.int64), "goal_sum": state.goal_sum.copy()})
        return outs


def observation(goal: float = 1.0, rgb_value: int = 0) -> dict:
    """A valid observation of ``CountingPolicy``: ``rgb`` uint8 [8,8,3], ``goal`` float32 [4]."""
    return {"rgb": np.full((8, 8, 3), rgb_value, np.uint8), "goal": np.full(4, goal, np.float32)}


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_healthy(port: int, deadline_s: float = 30.0) -> None:
    """Polls ``GET /healthz`` until it answers 200 or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if http_get(port, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"policy server on port {port} not healthy within {deadline_s} s")


def wait_until(predicate, deadline_s: float = 10.0, what: str = "condition") -> None:
    """Polls ``predicate()`` until true or the deadline passes (server-side effects seen from a test)."""
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {deadline_s} s")
        time.sleep(0.005)  # poll interval of a deadline wait, not a fixed wait


@contextlib.contextmanager
def running_server(policy, clock=None, port_override: int = 0, **config) -> Iterator[tuple[PolicyServer, int]]:
    """A real ``PolicyServer`` on a free loopback port (or ``port_override``), healthy before the body runs."""
    cfg = ServerConfig(port=port_override, **config)
    server = PolicyServer(policy, cfg, clock=clock) if clock else PolicyServer(policy, cfg)
    thread = ServerThread(server)
    port = thread.start()
    try:
        wait_healthy(port)
        yield server, port
    finally:
        thread.stop()


def stats(port: int, headers: dict | None = None) -> dict:
    status, body = http_get(port, "/stats", headers)
    assert status == 200, body
    return json.loads(body)
