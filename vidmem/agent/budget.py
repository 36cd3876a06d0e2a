"""Budgeted selection (VideoStreaming): hand the reasoner exactly ``budget`` memories related to the question.

The rounds' hits come first, best first, one per distinct moment and wording (a caption and the clip
carrying the same caption are one memory to a reader); when they are fewer than the budget, a wider
search of every channel tops them up, and then the clips around the best hit. Only a store holding
fewer memories than the budget yields fewer, and the trace says so.
"""

from __future__ import annotations

from vidmem.agent.reader import Hit


def select_memories(agent, query: str, hits: list[Hit], budget: int) -> tuple[list[Hit], str | None]:
    """Returns (exactly ``budget`` hits when the store has that many, a note when it has not)."""
    chosen = _distinct(hits, budget)
    if len(chosen) < budget:
        chosen = _distinct(chosen + _wider(agent, query, budget), budget)
    if len(chosen) < budget and chosen:
        chosen = _distinct(chosen + _around(agent, chosen[0], budget), budget)
    note = None if len(chosen) == budget else f"the store yields only {len(chosen)} memories for this question"
    return chosen, note


def _distinct(hits: list[Hit], budget: int) -> list[Hit]:
    """Best first, one hit per (moment, words) pair; repeats only when nothing else is left."""
    seen_ids: set[int] = set()
    seen_keys: set[tuple] = set()
    first, repeats = [], []
    for h in sorted(hits, key=lambda h: -h.score):
        if h.entry.id in seen_ids:
            continue
        seen_ids.add(h.entry.id)
        key = (round(h.entry.t_start, 1), round(h.entry.t_end, 1), h.entry.text)
        (repeats if key in seen_keys else first).append(h)
        seen_keys.add(key)
    return (first + repeats)[:budget]


def _wider(agent, query: str, budget: int) -> list[Hit]:
    from vidmem.agent.agent import LOCATE_STORES

    k = 3 * budget
    found: list[Hit] = []
    vectors = [agent._image_vector] if agent._image_vector is not None else []
    if query and agent.reader.has_text:
        found += agent.reader.search_text(query, k, stores=LOCATE_STORES)
    if query and agent.encoder.has_text:
        vectors.append(agent.encoder.encode_text([query])[0])
    for vector in vectors:  # clips, and the memory tokens of stores indexed with --tokens
        found += agent.reader.search_vector(vector, "episodic@clip", k)
        found += agent.reader.search_vector(vector, "tokens@clip", k)
    return found


def _around(agent, best: Hit, budget: int) -> list[Hit]:
    """Clips nearest in time to the best hit, scored by closeness (below any retrieved hit)."""
    centre = 0.5 * (best.entry.t_start + best.entry.t_end)
    ids = agent.store.select_ids("episodic", "clip")
    entries = agent.store.get_entries(ids)
    entries.sort(key=lambda e: abs(0.5 * (e.t_start + e.t_end) - centre))
    return [Hit(e, 1e-3 / (1.0 + i), "temporal") for i, e in enumerate(entries[: 2 * budget])]
