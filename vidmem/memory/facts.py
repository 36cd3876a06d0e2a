"""Text facts for the semantic store: named things and phrases that recur, with where and when.

Phrases are single content words, pairs of adjacent content words, and runs of capitalised words
(names, signs). Counts are per text span, so a subtitle repeating a word twice counts once.
"""

from __future__ import annotations

import re

from vidmem.types import MemoryEntry

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*")
STOPWORDS = frozenset(
    (
        "a about above after again against all am an and any are as at be because been before being below "
        "between both but by can could did do does doing down during each few for from further had has have "
        "having he her here hers herself him himself his how i if in into is it its itself just let me more "
        "most my myself no nor not now of off on once only or other our ours ourselves out over own same she "
        "should so some such than that the their theirs them themselves then there these they this those through "
        "to too under until up very was we were what when where which while who whom why will with would you "
        "your yours yourself yourselves okay yes yeah oh uh um well really going get got gets one two also "
        "like "
    ).split()
)


class TextFactsBuilder:
    """Counts recurring phrases across text spans and exports the frequent ones.

    Args:
        source: source path recorded on entries.
        min_count: spans a phrase must appear in to become a fact.
        max_facts: facts exported (most frequent first).
        max_candidates: phrases tracked at once; the rarest are dropped beyond it (bounded memory).
        gap_seconds: sightings closer than this join one occurrence run.
    """

    def __init__(
        self, source: str = "", min_count: int = 2, max_facts: int = 200, max_candidates: int = 5000,
        gap_seconds: float = 2.0,
    ) -> None:  # fmt: skip
        self.source = source
        self.min_count = min_count
        self.max_facts = max_facts
        self.max_candidates = max_candidates
        self.gap = gap_seconds
        self.phrases: dict[str, list] = {}  # phrase -> [count, [[t0, t1], ...]]

    def add(self, text: str, t_start: float, t_end: float) -> None:
        for phrase in extract_phrases(text):
            rec = self.phrases.setdefault(phrase, [0, []])
            rec[0] += 1
            runs = rec[1]
            if runs and t_start - runs[-1][1] <= self.gap:
                runs[-1][1] = max(runs[-1][1], t_end)
            else:
                runs.append([t_start, t_end])
                del runs[:-256]
        if len(self.phrases) > self.max_candidates:
            keep = sorted(self.phrases.items(), key=lambda kv: (-kv[1][0], kv[0]))[: self.max_candidates // 2]
            self.phrases = dict(keep)

    def entries(self) -> list[MemoryEntry]:
        frequent = [(p, r) for p, r in self.phrases.items() if r[0] >= self.min_count]
        frequent.sort(key=lambda kv: (-kv[1][0], kv[0]))
        return [
            MemoryEntry(
                store="semantic",
                scale="fact",
                t_start=runs[0][0],
                t_end=runs[-1][1],
                text=phrase,
                source=self.source,
                extra={"count": count, "occurrences": [[round(a, 3), round(b, 3)] for a, b in runs]},
            )  # fmt: skip
            for phrase, (count, runs) in frequent[: self.max_facts]
        ]

    def state(self) -> dict:
        return {"facts": self.phrases}

    def load_state(self, state: dict) -> None:
        self.phrases = {k: [v[0], [list(r) for r in v[1]]] for k, v in state.get("facts", {}).items()}


def extract_phrases(text: str) -> set[str]:
    """Lower-cased content words, adjacent content-word pairs and capitalised runs of ``text``."""
    words = _WORD.findall(text)
    out: set[str] = set()
    prev: str | None = None
    cap_run: list[str] = []
    for w in words:
        low = w.lower()
        if low in STOPWORDS or len(low) < 3:
            prev = None
            _flush_caps(cap_run, out)
            continue
        out.add(low)
        if prev is not None:
            out.add(f"{prev} {low}")
        prev = low
        if w[0].isupper():
            cap_run.append(low)
        else:
            _flush_caps(cap_run, out)
    _flush_caps(cap_run, out)
    return out


def _flush_caps(run: list[str], out: set[str]) -> None:
    if len(run) > 2:
        out.add(" ".join(run))
    run.clear()
