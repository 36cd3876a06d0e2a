"""The second half of an anchored question: what happens just before or just after the anchor event.

"After he closes the fridge, what does he pick up?": the anchor round found when the fridge is
closed; this round reads the memories of the 30 s after each of the best anchor sightings and
ranks them by closeness to the anchor, by channel (what is said tells what happens next best), and
by how well their words match what is asked ("pick up").
"""

from __future__ import annotations

from vidmem.agent.intent import subject_words
from vidmem.agent.reader import Hit, term_coverage
from vidmem.agent.reasoner import Occurrence
from vidmem.agent.rounds import brief
from vidmem.storage.store import query_terms

SPAN = 30.0
"""Seconds searched on the far side of an anchor."""

ANCHORS = 3
"""Anchor sightings whose neighbourhoods are searched."""

_SAID_BONUS = {"subtitle": 0.5, "caption": 0.5, "speech": 0.5, "ocr": 0.3}
"""What happens next is best told by what is said, then by what is written, then by the picture."""


def search(agent, kind: str, occurrences: list[Occurrence], asked: str, window, trace: list[dict]):
    """Returns (hits near the best anchor, best first; that anchor)."""
    order = occurrences if kind == "before" else occurrences[::-1]
    anchors = sorted(order, key=lambda o: -o.score)[:ANCHORS]
    subject = subject_words(asked)
    terms = query_terms(subject)
    best: tuple[float, list[Hit], Occurrence] | None = None
    for anchor in anchors:
        t0, t1 = _span(kind, anchor, window)
        found = _around(agent, kind, t0, t1)
        if terms and found:
            _score_match(agent.reader, subject, terms, found)
        found.sort(key=lambda h: -h.score)
        trace.append(
            {
                "round": "neighbourhood",
                "source": "text+episodic@clip",
                "anchor": [round(anchor.t_start, 2), round(anchor.t_end, 2)],
                "window": [round(t0, 2), round(t1, 2)],
                "query": subject if terms else None,
                "hits": brief(found),
            }
        )
        if found and (best is None or found[0].score > best[0]):
            best = (found[0].score, found, anchor)
    if best is None:
        return [], anchors[0]
    return best[1][:5], best[2]


def _span(kind: str, anchor: Occurrence, window) -> tuple[float, float]:
    t0, t1 = (anchor.t_start - SPAN, anchor.t_start) if kind == "before" else (anchor.t_end, anchor.t_end + SPAN)
    if window is not None:
        t0, t1 = max(t0, window[0]), min(t1, window[1])
    return t0, t1


def _around(agent, kind: str, t0: float, t1: float) -> list[Hit]:
    found = []
    for store_name in ("text", "episodic"):
        scale = None if store_name == "text" else "clip"
        ids = agent.store.select_ids(store_name, scale, t0 + 1e-6, t1 - 1e-6)
        for e in agent.store.get_entries(ids):
            inside = e.t_start >= t0 - 1e-6 if kind == "after" else e.t_end <= t1 + 1e-6
            if inside and (e.text or store_name == "episodic"):
                distance = (e.t_start - t0) if kind == "after" else (t1 - e.t_end)
                bonus = _SAID_BONUS.get(e.scale, 0.2 if e.text else 0.0)
                found.append(Hit(e, 1.0 / (1.0 + max(0.0, distance)) + bonus, "temporal"))
    return found


def _score_match(reader, subject: str, terms: list[str], hits: list[Hit]) -> None:
    """Adds how well each memory's words match what is asked (cosine and word coverage, 0..1)."""
    texted = [h for h in hits if h.entry.text]
    if not texted or not reader.has_text:
        return
    cosines = reader.text_similarity([subject], [h.entry.text for h in texted])[0]
    for h, cos in zip(texted, cosines, strict=True):
        h.score += 0.5 * max(0.0, float(cos)) + 0.5 * term_coverage(terms, h.entry.text)
