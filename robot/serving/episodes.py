"""One memory (``EpisodeState``) per robot episode, reset on request, evicted when idle or over the limit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
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


class EpisodeLimitError(RuntimeError):
    """Every one of the ``max_episodes`` live episodes is busy: no room for a new one."""


class EpisodeRegistry:
    """Episodes by key, created on first use with ``new_state()``, least recently used first.

    Args:
        new_state: makes a fresh ``EpisodeState`` (the policy's ``new_state``).
        idle_timeout_s: an episode unused this long is dropped (its memory freed).
        max_episodes: most live episodes; a new one beyond it evicts the least recently used idle one
            (so robots that never reuse their ids cannot grow memory without bound).
        clock: monotonic seconds; tests pass a fake clock to age episodes without waiting.
    """

    def __init__(
        self,
        new_state: Callable[[], Any],
        idle_timeout_s: float,
        max_episodes: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._new_state, self.idle_timeout_s, self._clock = new_state, idle_timeout_s, clock
        self.max_episodes = max_episodes
        self._episodes: OrderedDict[str, Episode] = OrderedDict()
        self._last_sweep = clock()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._episodes)

    def __contains__(self, key: str) -> bool:
        return key in self._episodes

    def get(self, key: str) -> Episode:
        """The episode ``key``, created with a fresh state when unknown (or evicted).

        Raises:
            EpisodeLimitError: ``key`` is new and all ``max_episodes`` live episodes are busy.
        """
        self.maybe_sweep()
        episode = self._episodes.get(key)
        if episode is None:
            self._make_room()
            episode = self._episodes[key] = Episode(key, self._new_state(), self._clock())
            logger.info("episode %s started (%d live)", key, len(self._episodes))
        episode.last_used = self._clock()
        self._episodes.move_to_end(key)
        return episode

    def _make_room(self) -> None:
        if len(self._episodes) < self.max_episodes:
            return
        oldest = next((k for k, e in self._episodes.items() if not e.lock.locked()), None)
        if oldest is None:
            raise EpisodeLimitError(f"all {self.max_episodes} live episodes are busy; try again later")
        del self._episodes[oldest]
        self.evicted += 1
        logger.warning("episode %s evicted: the server holds at most %d episodes", oldest, self.max_episodes)

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
