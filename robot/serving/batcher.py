"""Dynamic batching: requests of different episodes that arrive together share one forward pass.

The batcher runs ``policy.infer_batch`` on one worker thread so the event loop never blocks.
It takes the first waiting request, then gathers more until ``max_batch``, until ``max_wait_ms``
after the first arrived, or until every episode active in the last second is in the batch
(waiting for robots that are not coming would only add latency: one robot alone never waits).
A batch never holds two requests of one episode (the episode lock already prevents it; the
batcher checks again and defers such a request to the next batch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

ACTIVE_WINDOW_S = 1.0


@dataclass
class Request:
    """One validated observation of one episode, waiting for its output."""

    episode_key: str
    obs: dict[str, Any]
    state: Any
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


@dataclass
class BatchResult:
    """What one request gets back: the policy output plus how it was served."""

    output: dict[str, Any]
    infer_ms: float
    queue_ms: float
    batch_size: int


class Batcher:
    """Feeds ``policy.infer_batch`` from an asyncio queue.

    Args:
        policy: a ``MemoryPolicy`` (``infer_batch(observations, states) -> outputs``).
        max_batch: most requests per forward pass; 1 serves one request at a time (as openpi does).
        max_wait_ms: how long the first request of a batch may wait for company.
        adaptive_wait: stop waiting once every recently active episode is in the batch.
    """

    def __init__(self, policy: Any, max_batch: int, max_wait_ms: float, adaptive_wait: bool = True):
        self.policy, self.max_batch, self.max_wait_s = policy, max_batch, max_wait_ms / 1000
        self.adaptive_wait = adaptive_wait
        self.batch_sizes: Counter[int] = Counter()
        self._queue: asyncio.Queue[Request] = asyncio.Queue()
        self._deferred: list[Request] = []
        self._last_seen: dict[str, float] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-infer")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, episode_key: str, obs: dict[str, Any], state: Any) -> BatchResult:
        """Queues one request and waits for its result (raises what ``infer_batch`` raised)."""
        future = asyncio.get_running_loop().create_future()
        request = Request(episode_key, obs, state, future)
        self._last_seen[episode_key] = request.arrived
        self._queue.put_nowait(request)
        return await future

    def _active_episodes(self, now: float) -> int:
        """Episodes that sent a request within the last second (at least 1)."""
        if len(self._last_seen) > 4 * self.max_batch:  # forget long-gone episodes now and then
            self._last_seen = {k: t for k, t in self._last_seen.items() if now - t < ACTIVE_WINDOW_S}
        return max(1, sum(now - t < ACTIVE_WINDOW_S for t in self._last_seen.values()))

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            await self._serve(batch)

    async def _next(self, timeout: float | None) -> Request | None:
        if self._deferred:
            return self._deferred.pop(0)
        if timeout is None:
            return await self._queue.get()
        if not self._queue.empty():
            return self._queue.get_nowait()
        if timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _gather(self) -> list[Request]:
        first = await self._next(None)
        batch, keys, held = [first], {first.episode_key}, []
        now = time.perf_counter()
        deadline = now + self.max_wait_s
        expected = min(self.max_batch, self._active_episodes(now)) if self.adaptive_wait else self.max_batch
        while len(batch) < self.max_batch:
            # Past the expected company, take only what is already queued.
            wait = deadline - time.perf_counter() if len(batch) < expected else 0.0
            req = await self._next(wait)
            if req is None:
                break
            if req.episode_key in keys:  # never two steps of one episode in one forward pass
                held.append(req)
                continue
            batch.append(req)
            keys.add(req.episode_key)
        self._deferred[:0] = held
        return [r for r in batch if not r.future.done()]  # a cancelled waiter needs no forward pass

    async def _serve(self, batch: list[Request]) -> None:
        if not batch:
            return
        obs, states = [r.obs for r in batch], [r.state for r in batch]
        start = time.perf_counter()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.policy.infer_batch, obs, states
            )
            if len(outputs) != len(batch):
                raise RuntimeError(f"policy returned {len(outputs)} outputs for a batch of {len(batch)}")
        except Exception as exc:  # a policy failure fails this batch only; the server goes on
            logger.exception("infer_batch failed for %d request(s)", len(batch))
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(RuntimeError(f"policy failed: {exc}"))
            return
        infer_ms = (time.perf_counter() - start) * 1000
        self.batch_sizes[len(batch)] += 1
        logger.debug("batch of %d served in %.1f ms", len(batch), infer_ms)
        for r, out in zip(batch, outputs, strict=True):
            if not r.future.done():
                r.future.set_result(BatchResult(out, infer_ms, (start - r.arrived) * 1000, len(batch)))
