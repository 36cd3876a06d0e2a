"""Every stretch of time where the asked-about thing shows up (for how many / first / last / when)."""

from __future__ import annotations

import numpy as np

from vidmem.agent.intent import Intent
from vidmem.agent.reader import Hit, MemoryReader
from vidmem.agent.reasoner import Occurrence

MERGE_GAP = 2.5
"""Sightings closer than this (seconds) are one occurrence."""


def find_occurrences(
    reader: MemoryReader, intent: Intent, image, hits: list[Hit], window, encoder
) -> tuple[list[Occurrence], str]:
    """Returns occurrences in time order and the method used (``image``, ``lexical``, ``dense``...)."""
    if image is not None:
        return _by_vector(reader, encoder.encode_images(image[None])[0], window), "image"
    if reader.has_text and intent.target:
        found = _lexical(reader, intent.target, window)
        if found:
            return found, "lexical"
        found = _dense_text(reader, intent.target, window)
        if found:
            return found, "dense-text"
    if encoder.has_text and intent.target:
        return _by_vector(reader, encoder.encode_text([intent.target])[0], window), "clip-text"
    top = hits[:1]
    return _merge([_of(h) for h in top]), "top-hit"


def _lexical(reader: MemoryReader, target: str, window) -> list[Occurrence]:
    allowed = reader.store.select_ids("text", None, *(window or (None, None)))
    if len(allowed) == 0:
        return []
    pairs = reader.store.lexical_search(target, 1000, allowed, require_all=True)
    entries = reader.store.get_entries([i for i, _ in pairs])
    scores = dict(pairs)
    return _merge([Occurrence(e.t_start, e.t_end, scores[e.id], e.text, "text", e.source) for e in entries])


def _dense_text(reader: MemoryReader, target: str, window) -> list[Occurrence]:
    allowed = reader.store.select_ids("text", None, *(window or (None, None)), with_text=True)
    if len(allowed) == 0:
        return []
    hits = reader.dense_text(target, min(len(allowed), 500), allowed)
    if not hits:
        return []
    top = hits[0].score
    keep = [h for h in hits if h.score >= max(0.5, top - 0.08)]
    return _merge([_of(h) for h in keep])


def _by_vector(reader: MemoryReader, query: np.ndarray, window) -> list[Occurrence]:
    """Clips whose similarity stands out from the rest (a two-class split of all clip scores)."""
    index = reader.store.index("episodic@clip")
    if index is None:
        return []
    allowed = reader.store.select_ids("episodic", "clip", *window) if window else None
    hits = (
        reader.search_vector(query, "episodic@clip", min(index.ntotal, 5000), window)
        if allowed is None or len(allowed)
        else []
    )
    if not hits:
        return []
    scores = np.array([h.score for h in hits])
    cut = split_threshold(scores)
    keep = [h for h in hits if h.score >= cut]
    return _merge([_of(h) for h in keep])


def split_threshold(scores: np.ndarray) -> float:
    """Otsu's split of 1-D scores: the cut that best separates a high group from the rest.

    When the scores do not form two groups (the high group is not clearly apart), only the top
    score passes.
    """
    s = np.sort(scores)[::-1]
    if len(s) < 3:
        return float(s[0])
    best, cut = -1.0, float(s[0])
    for i in range(1, len(s)):
        hi, lo = s[:i], s[i:]
        between = len(hi) * len(lo) * (hi.mean() - lo.mean()) ** 2
        if between > best:
            best, cut = between, float(hi[-1])
    hi, lo = s[s >= cut], s[s < cut]
    if len(lo) and (hi.mean() - lo.mean()) < 3 * (lo.std() + 1e-3):
        return float(s[0])
    return cut


def _of(h) -> Occurrence:
    """A hit as an occurrence (with its video, so a collection's videos stay apart)."""
    return Occurrence(h.entry.t_start, h.entry.t_end, h.score, h.entry.text, h.group, h.entry.source)


def _merge(occ: list[Occurrence]) -> list[Occurrence]:
    out: list[Occurrence] = []
    for o in sorted(occ, key=lambda o: (o.video, o.t_start)):
        if out and o.video == out[-1].video and o.t_start - out[-1].t_end <= MERGE_GAP:
            last = out[-1]
            last.t_end = max(last.t_end, o.t_end)
            if o.score > last.score:
                last.score, last.source = o.score, o.source
            if o.text and o.text not in last.text:
                last.text = f"{last.text} {o.text}".strip()
        else:
            out.append(Occurrence(o.t_start, o.t_end, o.score, o.text, o.source, o.video))
    return sorted(out, key=lambda o: o.t_start)
