"""The policy server: openpi's websocket wire format, one memory per episode, many robots at once.

Protocol (compatible with ``openpi_client.websocket_client_policy.WebsocketClientPolicy``):

1. The handshake may carry ``Authorization: Api-Key <key>``; with a key configured, a missing key
   is refused with HTTP 401 and a wrong one with 403 before anything else happens.
2. On connect the server sends a msgpack map: the policy's ``metadata()`` (``inputs``:
   ``{key: {shape, dtype}}``, ``outputs``) plus the server's limits.
3. Each binary frame is a msgpack map of observations (msgpack-numpy arrays); optional fields
   ``episode_id`` (str or int), ``reset`` (bool) and ``request_id`` (int, for safe resends). The reply
   is a msgpack map with ``actions``, the policy's other outputs, ``episode_id`` and
   ``server_timing`` (``infer_ms``, ``queue_ms``, ``batch_size``). A map holding only ``reset`` (and
   the episode fields) resets the episode and is answered ``{"reset": True, "episode_id": ...}``.
4. Any error is answered with one text frame ``error: <message>``; the connection stays open
   (except for a frame over the size limit, which closes it with code 1009).

``GET /healthz`` answers 200; ``GET /stats`` answers JSON counters (key-protected like the socket).
"""

from __future__ import annotations

import asyncio
import hmac
import http
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from robot.client.wire import WireError, packb, unpackb
from robot.serving.batcher import Batcher
from robot.serving.episodes import Episode, EpisodeLimitError, EpisodeRegistry

logger = logging.getLogger(__name__)

RESERVED_KEYS = ("episode_id", "reset", "request_id")
MAX_EPISODE_ID_CHARS = 128


@dataclass(frozen=True)
class ServerConfig:
    """How the policy server listens and batches.

    Attributes:
        host: interface to bind; loopback by default (robots on other hosts need an explicit choice).
        port: TCP port; 0 picks a free one (see ``PolicyServer.port``).
        api_key: required ``Authorization: Api-Key`` value; None serves without a key.
        max_batch: most requests per forward pass (1 = one at a time, as openpi serves).
        max_wait_ms: how long a batch waits for more requests after its first one.
        idle_timeout_s: an episode unused this long is evicted (its memory freed).
        max_episodes: most live episodes; a new one beyond it evicts the least recently used idle one.
        max_message_bytes: largest accepted frame; larger ones close the connection (code 1009).
        adaptive_wait: a batch stops waiting once every episode active in the last second is in it.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_batch: int = 32
    max_wait_ms: float = 2.0
    idle_timeout_s: float = 300.0
    max_episodes: int = 10_000
    max_message_bytes: int = 16 * 1024 * 1024
    adaptive_wait: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be > 0, got {self.idle_timeout_s}")
        if self.max_episodes < 1:
            raise ValueError(f"max_episodes must be >= 1, got {self.max_episodes}")
        if self.max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {self.max_message_bytes}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (omit it to serve without a key)")


class RequestError(ValueError):
    """A request this server refuses (bad episode fields, bad observation); one-line message."""


class PolicyServer:
    """Serves one ``MemoryPolicy`` to many robots over websockets.

    Args:
        policy: a ``MemoryPolicy`` (``metadata``, ``validate``, ``new_state``, ``infer_batch``).
        config: listening, batching and limits.
        clock: monotonic seconds for episode idleness (tests pass a fake clock).
    """

    def __init__(self, policy: Any, config: ServerConfig, clock: Callable[[], float] = time.monotonic):
        self.policy, self.config = policy, config
        self.episodes = EpisodeRegistry(policy.new_state, config.idle_timeout_s, config.max_episodes, clock)
        self.batcher = Batcher(policy, config.max_batch, config.max_wait_ms, config.adaptive_wait)
        self.counters = {"connections": 0, "requests": 0, "errors": 0, "refused": 0, "vanished": 0}
        self._metadata = packb(self._metadata_map())
        self._inputs = frozenset(policy.metadata().get("inputs", {}))
        self._warned_extra: set[str] = set()
        self._connection_ids = 0
        self._server: Server | None = None
        self.port: int | None = None

    def _metadata_map(self) -> dict[str, Any]:
        meta = dict(self.policy.metadata())
        meta["server"] = {
            "name": "vidmem",
            "episode_fields": list(RESERVED_KEYS),
            "max_batch": self.config.max_batch,
            "max_message_bytes": self.config.max_message_bytes,
            "idle_timeout_s": self.config.idle_timeout_s,
        }
        return meta

    def stats(self) -> dict[str, Any]:
        """Counters: requests, errors, refused handshakes, batch-size histogram, live episodes, RSS."""
        return {
            **self.counters,
            "batch_sizes": {str(k): v for k, v in sorted(self.batcher.batch_sizes.items())},
            "episodes": len(self.episodes),
            "episodes_evicted": self.episodes.evicted,
            "episode_memory_bytes": self.episodes.memory_bytes(),
            "rss_bytes": _rss_bytes(),
        }

    async def serve(self, ready: Callable[[int], None] | None = None, stop: asyncio.Event | None = None) -> None:
        """Serves until ``stop`` is set (forever when None); ``ready(port)`` is called once listening."""
        self.batcher.start()
        sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        try:
            async with serve(
                self._handle,
                self.config.host,
                self.config.port,
                process_request=self._process_request,
                max_size=self.config.max_message_bytes,
                compression=None,
            ) as server:
                self._server = server
                self.port = next(iter(server.sockets)).getsockname()[1]
                logger.info("serving policy %s on ws://%s:%d", self._policy_name(), self.config.host, self.port)
                if ready is not None:
                    ready(self.port)
                await (stop.wait() if stop is not None else server.serve_forever())
        finally:
            sweeper.cancel()
            await self.batcher.stop()

    def _policy_name(self) -> str:
        return str(getattr(self.policy, "name", type(self.policy).__name__))

    async def _sweep_forever(self) -> None:
        # Requests sweep too; this frees memory when no request arrives at all.
        while True:
            await asyncio.sleep(max(self.config.idle_timeout_s / 4, 0.05))
            self.episodes.sweep()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        refusal = self._check_key(request.headers.get("Authorization"))
        if refusal is not None:
            self.counters["refused"] += 1
            logger.warning("refused %s: %s", connection.remote_address, refusal[1].strip())
            return connection.respond(*refusal)
        if path == "/stats":
            response = connection.respond(http.HTTPStatus.OK, json.dumps(self.stats()) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        return None

    def _check_key(self, header: str | None) -> tuple[http.HTTPStatus, str] | None:
        if self.config.api_key is None:
            return None
        if not header:
            return http.HTTPStatus.UNAUTHORIZED, "missing API key (send 'Authorization: Api-Key <key>')\n"
        given = header.removeprefix("Api-Key ").strip()
        if not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
            return http.HTTPStatus.FORBIDDEN, "wrong API key\n"
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self._connection_ids += 1
        self.counters["connections"] += 1
        conn_key = f"connection-{self._connection_ids}"
        peer = ws.remote_address
        logger.info("connection %s from %s", conn_key, peer)
        try:
            await ws.send(self._metadata)
            async for frame in ws:
                reply = await self._answer(frame, conn_key)
                try:
                    await ws.send(reply)
                except ConnectionClosed:
                    self.counters["vanished"] += 1
                    logger.warning("client %s went away before its reply", peer)
                    break
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == 1009:  # frame over max_message_bytes
                self.counters["errors"] += 1
                logger.warning("closed %s: %s", peer, exc.sent.reason)
        finally:
            self.episodes.drop(conn_key)
            logger.info("connection %s closed", conn_key)

    async def _answer(self, frame: bytes | str, conn_key: str) -> bytes | str:
        """The reply to one frame: packed outputs, or an ``error: ...`` text frame."""
        self.counters["requests"] += 1
        try:
            if isinstance(frame, str):
                raise RequestError("bad request: expected a binary msgpack frame, got text")
            try:
                message = unpackb(frame)
            except WireError as exc:
                raise RequestError(f"bad request: {exc}") from None
            if not isinstance(message, dict):
                raise RequestError(f"bad request: expected a msgpack map of observations, got {type(message).__name__}")
            return await self._step(message, conn_key)
        except RequestError as exc:
            return self._error(str(exc))
        except Exception as exc:  # a policy failure: reported to this client; the server goes on
            if not str(exc).startswith("policy failed"):
                logger.exception("request failed")
            return self._error(str(exc) or type(exc).__name__)

    def _error(self, text: str) -> str:
        self.counters["errors"] += 1
        line = " ".join(text.split())
        logger.warning("error reply: %s", line)
        return f"error: {line}"

    async def _step(self, message: dict[str, Any], conn_key: str) -> bytes:
        episode_id, reset, request_id = _episode_fields(message)
        key = conn_key if episode_id is None else f"id:{episode_id}"
        obs = {k: v for k, v in message.items() if k not in RESERVED_KEYS}
        try:
            episode = self.episodes.get(key)
        except EpisodeLimitError as exc:
            raise RequestError(f"server busy: {exc}") from None
        async with episode.lock:
            if request_id is not None and request_id == episode.last_request_id and episode.last_reply:
                return episode.last_reply  # a resend after a lost reply: do not step the memory twice
            if reset:
                self.episodes.reset(episode)
            if reset and not obs:
                reply = packb({"reset": True, "episode_id": episode_id})
            else:
                reply = await self._infer(episode, episode_id, obs)
            if request_id is not None:  # only clients that may resend need the cached reply
                episode.last_request_id, episode.last_reply = request_id, reply
            self.episodes.touch(episode)
            return reply

    async def _infer(self, episode: Episode, episode_id: str | int | None, obs: dict[str, Any]) -> bytes:
        self._warn_extra_keys(obs)
        try:
            valid = self.policy.validate(obs)
        except ValueError as exc:  # the policy's ObservationError (missing key, dtype, shape)
            raise RequestError(f"bad observation: {exc}") from None
        result = await self.batcher.submit(episode.key, valid, episode.state)
        episode.steps += 1
        out = dict(result.output)
        out["episode_id"] = episode_id  # None for a connection's own episode
        out["server_timing"] = {
            "infer_ms": result.infer_ms,
            "queue_ms": result.queue_ms,
            "batch_size": result.batch_size,
        }
        try:
            return packb(out)
        except (TypeError, ValueError) as exc:
            raise RuntimeError(f"policy output cannot be sent: {exc}") from None

    def _warn_extra_keys(self, obs: dict[str, Any]) -> None:
        extra = [k for k in obs if k not in self._inputs and k not in self._warned_extra]
        if extra:
            self._warned_extra.update(extra)
            logger.warning("ignoring observation keys the policy does not take: %s (logged once)", ", ".join(extra))


def _episode_fields(message: dict[str, Any]) -> tuple[str | int | None, bool, int | None]:
    """``(episode_id, reset, request_id)`` of a request; ``episode_id`` None: the connection's episode."""
    raw_id, reset, request_id = message.get("episode_id"), message.get("reset", False), message.get("request_id")
    if isinstance(raw_id, np.generic):
        raw_id = raw_id.item()
    if raw_id is not None and not _valid_episode_id(raw_id):
        raise RequestError(f"bad request: episode_id must be a string of 1..{MAX_EPISODE_ID_CHARS} chars or an integer")
    if isinstance(reset, np.generic | np.ndarray) and np.size(reset) == 1:
        reset = bool(np.asarray(reset).item())
    if not isinstance(reset, bool):
        raise RequestError("bad request: reset must be a boolean")
    if isinstance(request_id, np.generic):
        request_id = request_id.item()
    if request_id is not None and (not isinstance(request_id, int) or isinstance(request_id, bool)):
        raise RequestError("bad request: request_id must be an integer")
    return raw_id, reset, request_id


def _valid_episode_id(raw_id: Any) -> bool:
    if isinstance(raw_id, str):
        return 0 < len(raw_id) <= MAX_EPISODE_ID_CHARS
    return isinstance(raw_id, int) and not isinstance(raw_id, bool)


def _rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class ServerThread:
    """Runs a ``PolicyServer`` on its own event loop in a background thread (tests, benchmarks).

    ``start()`` returns once the socket listens; ``stop()`` shuts it down and joins the thread.
    """

    def __init__(self, server: PolicyServer):
        self.server = server
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="policy-server", daemon=True)

    def start(self, timeout_s: float = 30.0) -> int:
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"policy server did not start: {self._error}")
        return self.server.port

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _main(self) -> None:
        async def run() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await self.server.serve(ready=lambda _port: self._ready.set(), stop=self._stop)

        try:
            asyncio.run(run())
        except BaseException as exc:  # surfaced by start(); the thread must not die silently
            self._error = exc
            self._ready.set()
