"""A thin policy client for robots: numpy, msgpack and websockets only (no torch, nothing of vidmem).

It speaks the openpi wire format (see :mod:`robot.client.wire`) plus vidmem's episode fields:
every request carries ``episode_id`` (a fresh UUID per client unless given) and a ``request_id``
so a request resent after a reconnect is answered from the server's cache instead of stepping
the episode's memory twice.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from robot.client.wire import packb, unpackb

logger = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server answered with an error (a text frame); the message is the server's one line."""


class PolicyClient:
    """Calls a policy served by ``vidmem serve-policy`` (or any openpi-style server).

    Args:
        host: server host, or a full ``ws://host:port`` URI.
        port: server port (ignored when ``host`` is a URI with a port).
        api_key: sent as ``Authorization: Api-Key <key>`` (openpi's header).
        episode_id: this robot's episode; a fresh UUID when None. The server keeps one memory per id.
        retries: reconnect attempts per call before giving up.
        backoff_s: first reconnect delay; doubled after each failed attempt, capped at ``max_backoff_s``.
        max_backoff_s: longest delay between reconnect attempts.
        timeout_s: how long to wait for the connection handshake and for each reply.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = 8000,
        *,
        api_key: str | None = None,
        episode_id: str | None = None,
        retries: int = 5,
        backoff_s: float = 0.1,
        max_backoff_s: float = 2.0,
        timeout_s: float = 30.0,
    ) -> None:
        self.uri = host if host.startswith("ws") else f"ws://{host}" + (f":{port}" if port is not None else "")
        self.api_key = api_key
        self.episode_id = episode_id or uuid.uuid4().hex
        self.retries, self.backoff_s, self.max_backoff_s, self.timeout_s = retries, backoff_s, max_backoff_s, timeout_s
        # Random start: request ids must differ from any earlier client's on the same episode id.
        self._request_id = random.getrandbits(62)
        self._ws: ClientConnection | None = None
        self.metadata: dict[str, Any] = {}
        self._connect_with_backoff()

    def infer(self, obs: dict[str, Any], *, reset: bool = False) -> dict[str, Any]:
        """Sends one observation of this episode; returns the reply (``actions``, ``server_timing``, ...).

        Args:
            obs: observation arrays by key, e.g. ``rgb`` uint8 [H,W,3] (see ``metadata["inputs"]``).
            reset: clear the episode's memory before this step (first step of a new episode).

        Raises:
            ServerError: the server refused the observation (wrong key, dtype, shape, ...).
            ConnectionError: the server stayed unreachable through every retry.
        """
        message = dict(obs)
        if reset:
            message["reset"] = True
        return self._call(message)

    def reset(self) -> None:
        """Clears this episode's memory on the server (the next ``infer`` starts a fresh episode)."""
        self._call({"reset": True})

    def new_episode(self, episode_id: str | None = None) -> str:
        """Switches to another episode id (a fresh UUID by default); returns it."""
        self.episode_id = episode_id or uuid.uuid4().hex
        return self.episode_id

    def close(self) -> None:
        """Closes the connection (the server keeps the episode until it goes idle)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(OSError, WebSocketException):  # already broken: nothing to close cleanly
                ws.close()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        self._request_id += 1
        message.update(episode_id=self.episode_id, request_id=np.int64(self._request_id))
        payload = packb(message)
        for attempt in range(self.retries + 1):
            try:
                if self._ws is None:
                    self._connect_with_backoff()
                self._ws.send(payload)
                reply = self._ws.recv(timeout=self.timeout_s)
                break
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                # The same request_id goes again: the server answers it from its cache if it ran.
                logger.warning("policy server connection lost (%s); reconnecting", exc)
                self.close()
                if attempt == self.retries:
                    raise ConnectionError(f"policy server at {self.uri} unreachable: {exc}") from None
        if isinstance(reply, str):
            raise ServerError(reply.removeprefix("error: "))
        return unpackb(reply)

    def _connect_with_backoff(self) -> None:
        delay, last = self.backoff_s, None
        for attempt in range(self.retries + 1):
            try:
                self._ws = self._connect()
                return
            except InvalidStatus as exc:  # 401/403: retrying cannot help
                raise ConnectionError(f"policy server at {self.uri} refused the connection: {exc}") from None
            except (OSError, TimeoutError, WebSocketException) as exc:
                last = exc
                if attempt < self.retries:
                    time.sleep(delay)  # backoff between reconnects, not a test wait
                    delay = min(delay * 2, self.max_backoff_s)
        raise ConnectionError(f"policy server at {self.uri} unreachable after {self.retries + 1} tries: {last}")

    def _connect(self) -> ClientConnection:
        headers = {"Authorization": f"Api-Key {self.api_key}"} if self.api_key else None
        ws = connect(
            self.uri,
            compression=None,
            max_size=None,
            additional_headers=headers,
            open_timeout=self.timeout_s,
            legacy=True,  # a long-lived connection object, not a with-block
        )
        self.metadata = unpackb(ws.recv(timeout=self.timeout_s))
        return ws
