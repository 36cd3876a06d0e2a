"""Consolidation: keep a store within a budget by merging the most similar adjacent entries.

As MovieChat and MemoryVLA do, neighbours in time that look alike are fused (weighted mean of
vectors, union of times, joined text), so memory stays bounded however long the stream runs.
"""

from __future__ import annotations

import heapq

import numpy as np


def plan_merges(vectors: np.ndarray, weights: np.ndarray, budget: int) -> list[list[int]]:
    """Groups consecutive entries so that at most ``budget`` groups remain.

    Args:
        vectors: ``float32 [N,D]`` unit vectors in time order.
        weights: ``float [N]`` how many clips each entry already stands for.
        budget: number of groups wanted (>= 1).

    Returns:
        Lists of consecutive indices, in time order; each list becomes one entry.
    """
    n = len(vectors)
    if budget < 1:
        raise ValueError("budget must be >= 1")
    if n <= budget:
        return [[i] for i in range(n)]
    sums = vectors.astype(np.float64) * weights[:, None]
    members: list[list[int]] = [[i] for i in range(n)]
    nxt = list(range(1, n)) + [-1]
    prv = [-1] + list(range(n - 1))
    alive = [True] * n
    version = [0] * n

    def sim(a: int, b: int) -> float:
        va, vb = sums[a], sums[b]
        return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))

    heap = [(-sim(i, i + 1), i, 0, 0) for i in range(n - 1)]
    heapq.heapify(heap)
    groups = n
    while groups > budget and heap:
        _, a, va, vb = heapq.heappop(heap)
        b = nxt[a]
        if not alive[a] or b == -1 or version[a] != va or version[b] != vb:
            continue
        sums[a] += sums[b]
        members[a].extend(members[b])
        alive[b] = False
        nxt[a] = nxt[b]
        if nxt[b] != -1:
            prv[nxt[b]] = a
        version[a] += 1
        groups -= 1
        for left, right in ((prv[a], a), (a, nxt[a])):
            if left != -1 and right != -1:
                heapq.heappush(heap, (-sim(left, right), left, version[left], version[right]))
    return [members[i] for i in range(n) if alive[i]]
