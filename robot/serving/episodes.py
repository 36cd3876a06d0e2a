"""One memory (``EpisodeState``) per robot episode, reset on request and evicted when idle."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Episode:
    """One episode's memory and bookkeeping.

    ``lock`` orders the episode's requests: a request holds it from submission to reply, so two
    requests of one episode are never in flight (or in one batch) together and run in arrival order.
    """

    key: str
    state: Any
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    steps: int = 0
    last_request_id: int | None = None
    last_reply: bytes | None = None


class EpisodeRegistry:
    """Episodes by key, created on first use with ``new_state()``.

    Args:
        new_state: makes a fresh ``EpisodeState`` (the policy's ``new_state``).
        idle_timeout_s: an episode unused this long is dropped (its memory freed).
        clock: monotonic seconds; tests pass a fake clock to age episodes without waiting.
    """

    def __init__(
        self, new_state: Callable[[], Any], idle_timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._new_state, self.idle_timeout_s, self._clock = new_state, idle_timeout_s, clock
        self._episodes: dict[str, Episode] = {}
        self._last_sweep = clock()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._episodes)

    def __contains__(self, key: str) -> bool:
        return key in self._episodes

    def get(self, key: str) -> Episode:
        """The episode ``key``, created with a fresh state when unknown (or evicted)."""
        self.maybe_sweep()
        episode = self._episodes.get(key)
        if episode is None:
            episode = self._episodes[key] = Episode(key, self._new_state(), self._clock())
            logger.info("episode %s started (%d live)", key, len(self._episodes))
        episode.last_used = self._clock()
        return episode

    def reset(self, episode: Episode) -> None:
        """Gives ``episode`` a fresh memory (its request cache too)."""
        episode.state, episode.steps = self._new_state(), 0
        episode.last_request_id = episode.last_reply = None
        logger.info("episode %s reset", episode.key)

    def touch(self, episode: Episode) -> None:
        episode.last_used = self._clock()

    def drop(self, key: str) -> None:
        """Forgets ``key`` (a connection-scoped episode whose connection closed)."""
        if self._episodes.pop(key, None) is not None:
            logger.info("episode %s dropped (%d live)", key, len(self._episodes))

    def maybe_sweep(self) -> None:
        """Evicts idle episodes, at most a few times per idle period (cheap enough per request)."""
        if self._clock() - self._last_sweep >= self.idle_timeout_s / 4:
            self.sweep()

    def sweep(self) -> list[str]:
        """Evicts every episode idle longer than the timeout and not busy; returns their keys."""
        now = self._clock()
        self._last_sweep = now
        idle = [k for k, e in self._episodes.items() if now - e.last_used > self.idle_timeout_s and not e.lock.locked()]
        for key in idle:
            del self._episodes[key]
            logger.info("episode %s evicted after %.0f s idle", key, self.idle_timeout_s)
        self.evicted += len(idle)
        return idle

    def memory_bytes(self) -> int:
        """Sum of the live episodes' memory sizes (``EpisodeState.nbytes``)."""
        return sum(int(getattr(e.state, "nbytes", 0)) for e in self._episodes.values())
