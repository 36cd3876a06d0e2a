"""Retrieval rounds: what a round searches, the embedded policy that picks the next one, and the trace.

A round picks a source (``text``: the text channels; ``episodic@<scale>``; ``visual``;
``semantic``), a query and a time window, retrieves, and ends with a decision: search on
(``next``), the evidence suffices (``enough``), refine coarse-to-fine (``refine``), or stop
(``nothing new``, ``round budget``). The embedded policy is a fixed rule: search every channel the
question can reach, judge, and when the evidence falls short, read the coarse episodic windows
(chunk summaries) and search again inside the best of them (HCAM). A language model may pick the
rounds instead (see ``vidmem.agent.models``); its raw output goes into the round's record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidmem.agent.reader import Hit

REFINE_CHUNKS = 2
"""Best coarse windows searched inside when the first rounds do not suffice."""


@dataclass(frozen=True)
class Step:
    """One search: ``source`` (``text``, ``episodic@<scale>``, ``visual``, ``semantic``), query, window."""

    source: str
    query: str
    window: tuple[float, float] | None = None
    purpose: str = "locate"


@dataclass
class RoundState:
    """What the rounds know so far.

    Attributes:
        subject: what the question is about, in words (the anchor for before/after questions).
        image: whether the question has an example image.
        window: the user's time window, or None.
        sources: sources this store can answer from for this question.
        hits: fine memories found so far, best first.
        chunks: coarse windows found so far, best first.
        done: steps already run.
        records: the trace, one dict per round.
        coarse_scale: the finest coarse episodic scale with more than one window, or None.
    """

    subject: str
    image: bool
    window: tuple[float, float] | None
    sources: list[str]
    coarse_scale: str | None
    hits: list[Hit] = field(default_factory=list)
    chunks: list[Hit] = field(default_factory=list)
    done: list[Step] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    new_last: int = -1

    def first_steps(self) -> list[Step]:
        """The embedded policy's opening searches: every fine source the question can reach."""
        return [Step(s, self.subject, self.window) for s in self.sources if not _is_coarse(s)]


def embedded_next(state: RoundState, supported: bool) -> Step | str:
    """The fixed policy: the next step, or why to stop (``enough``, ``nothing new``, ``exhausted``)."""
    pending = [s for s in state.first_steps() if s not in state.done]
    if pending:
        return pending[0]
    if supported:
        return "enough"
    if state.new_last == 0 and state.done and state.done[-1].purpose != "locate":
        return "nothing new"
    if state.coarse_scale and not any(s.purpose == "coarse" for s in state.done):
        return Step(f"episodic@{state.coarse_scale}", state.subject, state.window, "coarse")
    refined = [s for s in state.done if s.purpose == "refine"]
    for chunk in state.chunks[:REFINE_CHUNKS]:
        inside = _clip_window((chunk.entry.t_start, chunk.entry.t_end), state.window)
        for source in state.sources:
            step = Step(source, state.subject, inside, "refine")
            if not _is_coarse(source) and step not in refined:
                return step
    return "exhausted"


def is_coarse_source(source: str) -> bool:
    return _is_coarse(source)


def _is_coarse(source: str) -> bool:
    return source.startswith("episodic@") and source != "episodic@clip"


def _clip_window(chunk: tuple[float, float], window: tuple[float, float] | None) -> tuple[float, float]:
    if window is None:
        return chunk
    return max(chunk[0], window[0]), min(chunk[1], window[1])


def merge_hits(old: list[Hit], new: list[Hit]) -> tuple[list[Hit], int]:
    """Best score per entry over both lists, best first; and how many entries are new."""
    best = {h.entry.id: h for h in old}
    fresh = 0
    for h in new:
        if h.entry.id not in best:
            fresh += 1
            best[h.entry.id] = h
        elif h.score > best[h.entry.id].score:
            best[h.entry.id] = h
    return sorted(best.values(), key=lambda h: -h.score), fresh


def brief(hits: list[Hit], n: int = 5) -> list[dict]:
    """A short JSON-able view of hits for the trace."""
    return [
        {
            "id": h.entry.id,
            "source": h.group,
            "t": [round(h.entry.t_start, 2), round(h.entry.t_end, 2)],
            "score": round(h.score, 4),
            "via": h.via,
            **({"text": h.entry.text[:60]} if h.entry.text else {}),
        }
        for h in hits[:n]
    ]


def record(step: Step, hits: list[Hit], new: int, by: str, raw: str | None = None) -> dict:
    """The trace entry of one search round (its decision is filled in when the next one is made)."""
    source, _, scale = step.source.partition("@")
    out = {
        "round": step.purpose,
        "source": source,
        "scale": scale or None,
        "window": [round(step.window[0], 2), round(step.window[1], 2)] if step.window else None,
        "query": step.query,
        "hits": brief(hits),
        "new": new,
        "by": by,
    }
    if raw is not None:
        out["raw"] = raw
    return out
