"""``StatePool``: many episodes' memory states keyed by episode id, bounded in total bytes (LRU).

A server or an evaluator holding thousands of episodes must not grow without bound: when the
states' bytes exceed ``max_bytes`` the least recently used episodes are dropped (their next
request starts from an empty memory) and counted in ``evicted``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar


class Sized(Protocol):
    @property
    def nbytes(self) -> int: ...


S = TypeVar("S", bound=Sized)


class StatePool(Generic[S]):
    """Episode states by id with a least-recently-used bound on their total ``nbytes``.

    Args:
        new_state: makes a fresh state (e.g. ``policy.new_state``).
        max_bytes: bound on the states' total bytes; the episode just used is never evicted.
    """

    def __init__(self, new_state: Callable[[], S], max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self._new_state = new_state
        self.max_bytes = int(max_bytes)
        self._states: OrderedDict[Hashable, S] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, episode_id: Hashable) -> bool:
        return episode_id in self._states

    @property
    def nbytes(self) -> int:
        """Total bytes held by all states."""
        return sum(s.nbytes for s in self._states.values())

    def get(self, episode_id: Hashable) -> S:
        """The episode's state (created empty when unknown or evicted); marks it most recently used."""
        state = self._states.get(episode_id)
        if state is None:
            state = self._states[episode_id] = self._new_state()
        self._states.move_to_end(episode_id)
        self.enforce_bound()
        return state

    def reset(self, episode_id: Hashable) -> S:
        """Replaces the episode's state with an empty one (a new episode under the same id)."""
        self._states.pop(episode_id, None)
        return self.get(episode_id)

    def drop(self, episode_id: Hashable) -> bool:
        """Forgets the episode; True if it was held."""
        return self._states.pop(episode_id, None) is not None

    def enforce_bound(self) -> None:
        """Evicts least recently used episodes until the total fits (call after states grow)."""
        total = self.nbytes
        while total > self.max_bytes and len(self._states) > 1:
            _, oldest = self._states.popitem(last=False)
            total -= oldest.nbytes
            self.evicted += 1
