"""The retrieval agent: rounds of (pick source and scale, retrieve, refine, stop), then the reasoner.

Round ``locate`` searches the finest memories the query can reach (image query: clip vectors and
keyframes; text query: the text channels, plus clip vectors when the encoder has a text tower).
Round ``context`` scores the coarse episodic windows holding those hits and re-ranks the hits by
their window (HCAM: attend to chunk summaries, then inside the best chunks). Round ``occurrences``
(only for when / first / last / before / after / how many) collects every matching stretch of
time. The agent stops as soon as the question's kind has what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidmem.agent.intent import Intent, parse_intent
from vidmem.agent.reader import Hit, MemoryReader, merge_rankings
from vidmem.agent.reasoner import REASONERS, Occurrence
from vidmem.errors import QueryError
from vidmem.storage.store import MemoryStore
from vidmem.types import Answer

LOCATE_STORES = ("episodic", "visual", "text")


@dataclass(frozen=True)
class AgentConfig:
    """Attributes:
    k: hits retrieved per search.
    evidence: evidence items returned with an answer.
    reasoner: registered reasoner name.
    """

    k: int = 12
    evidence: int = 5
    reasoner: str = "embedded"

    def __post_init__(self) -> None:
        if self.k < 1 or self.evidence < 1:
            raise ValueError("k and evidence must be >= 1")


class RetrievalAgent:
    """Answers questions from one store.

    Args:
        store: an open store.
        config: agent settings.
    """

    def __init__(self, store: MemoryStore, config: AgentConfig | None = None) -> None:
        from vidmem.ingest import store_encoder, store_text_encoder

        self.store = store
        self.config = config or AgentConfig()
        recorded = store.get_meta("encoder")
        if recorded is None:
            raise QueryError(f"store {store.root} holds no memories yet; index a video into it first")
        self.encoder = store_encoder(store, recorded["spec"])
        self.reader = MemoryReader(store, self.encoder, store_text_encoder(store))
        self.reasoner = REASONERS.build(self.config.reasoner)

    def ask(
        self,
        question: str,
        image: np.ndarray | None = None,
        choices: list[str] | None = None,
        window: tuple[float, float] | None = None,
    ) -> Answer:
        """Answers ``question`` (optionally about ``image``, uint8 [H,W,3] RGB) with evidence.

        Args:
            question: the question in words.
            image: an example image to look for.
            choices: options for a multiple-choice question.
            window: only consider memories overlapping (t_min, t_max) seconds.
        """
        question = question.strip()
        if not question and image is None:
            raise QueryError("the question is empty")
        if choices is not None and len(choices) < 2:
            raise QueryError("give at least two --choice options, or none")
        intent = parse_intent(question) if question else Intent("open", "")
        trace: list[dict] = []
        hits = self._locate(question, intent, image, window, trace)
        if not hits:
            raise QueryError(self._why_nothing(image))
        hits = self._context(hits, window, trace)
        occurrences = None
        if intent.kind in ("count", "first", "last", "before", "after", "when"):
            occurrences = self._occurrences(intent, image, hits, window, trace)
            if intent.kind in ("before", "after") and occurrences:
                hits = self._neighbours(intent, occurrences, window, trace) + hits
        return self.reasoner.answer(
            question, intent, hits, occurrences, choices, self.reader, self.config.evidence, trace
        )

    def _why_nothing(self, image) -> str:
        if image is None and not self.reader.has_text and not self.encoder.has_text:
            return (
                f"store {self.store.root} has no text channel and its encoder {self.encoder.name!r} has no text "
                "tower; ask with --image, or index with subtitles/captions/OCR or a CLIP encoder"
            )
        return "nothing in the store matches the question (check the time window)"

    # --- rounds ---------------------------------------------------------------------------

    def _locate(self, question: str, intent: Intent, image, window, trace) -> list[Hit]:
        k = self.config.k
        rankings: list[list[Hit]] = []
        searched = []
        if image is not None:
            qv = self.encoder.encode_images(image[None])[0]
            for group in ("episodic@clip", "visual"):
                rankings.append(self.reader.search_vector(qv, group, k, window))
                searched.append(f"{group}:image")
        if question and self.reader.has_text:
            query = intent.target if intent.kind in ("before", "after") else question
            # semantic facts span first-to-last sighting: too coarse to say *when*; occurrences use them
            rankings.append(self.reader.search_text(query, k, window, stores=LOCATE_STORES))
            searched.append("text:hybrid")
        if question and image is None and self.encoder.has_text:
            qv = self.encoder.encode_text([question])[0]
            rankings.append(self.reader.search_vector(qv, "episodic@clip", k, window))
            searched.append("episodic@clip:clip-text")
        hits = merge_rankings(rankings, k)
        trace.append({"round": "locate", "searched": searched, "window": window, "hits": _brief(hits)})
        return hits

    def _context(self, hits: list[Hit], window, trace) -> list[Hit]:
        """Re-ranks fine hits by how strongly their coarse window as a whole matches."""
        scale = self._coarse_scale()
        if scale is None or len(hits) < 2:
            return hits
        windows = self.reader.store.get_entries(
            self.reader.store.select_ids("episodic", scale, *(window or (None, None)))
        )
        if len(windows) < 2:
            return hits
        support: dict[int, float] = {}
        for h in hits:
            for w in windows:
                if w.t_start <= h.entry.t_start < w.t_end or (w.t_start <= h.entry.t_end <= w.t_end):
                    support[w.id] = support.get(w.id, 0.0) + h.score
                    break
        if not support:
            return hits
        top = max(support.values())
        boost = {w.id: support.get(w.id, 0.0) / top for w in windows}
        span = [(w.t_start, w.t_end, boost[w.id]) for w in windows]
        reranked = sorted(hits, key=lambda h: -(h.score * (1.0 + 0.25 * _window_boost(h, span))))
        strong = [[round(w.t_start, 2), round(w.t_end, 2), round(boost[w.id], 3)] for w in windows if boost[w.id] > 0]
        trace.append({"round": "context", "scale": f"episodic@{scale}", "windows": strong[:5]})
        return reranked

    def _coarse_scale(self) -> str | None:
        scales = [sc for s, sc, n in self.store.groups() if s == "episodic" and sc != "clip" and n >= 2]
        return min(scales, key=lambda s: float(s.rstrip("s")), default=None)

    def _occurrences(self, intent: Intent, image, hits: list[Hit], window, trace) -> list[Occurrence]:
        from vidmem.agent.occurrences import find_occurrences

        occ, how = find_occurrences(self.reader, intent, image, hits, window, self.encoder)
        trace.append(
            {
                "round": "occurrences",
                "method": how,
                "found": [[round(o.t_start, 2), round(o.t_end, 2)] for o in occ][:20],
            }
        )
        return occ

    def _neighbours(self, intent: Intent, occurrences: list[Occurrence], window, trace) -> list[Hit]:
        """Memories just before the first occurrence or just after the last one."""
        anchor = occurrences[0] if intent.kind == "before" else occurrences[-1]
        span = 30.0
        t0, t1 = (
            (anchor.t_start - span, anchor.t_start) if intent.kind == "before" else (anchor.t_end, anchor.t_end + span)
        )
        if window is not None:
            t0, t1 = max(t0, window[0]), min(t1, window[1])
        found = []
        for store_name in ("text", "episodic"):
            scale = None if store_name == "text" else "clip"
            ids = self.store.select_ids(store_name, scale, t0 + 1e-6, t1 - 1e-6)
            for e in self.store.get_entries(ids):
                inside = e.t_start >= t0 - 1e-6 if intent.kind == "after" else e.t_end <= t1 + 1e-6
                if inside and (e.text or store_name == "episodic"):
                    distance = (e.t_start - t0) if intent.kind == "after" else (t1 - e.t_end)
                    bonus = _SAID_BONUS.get(e.scale, 0.2 if e.text else 0.0)
                    found.append(Hit(e, 1.0 / (1.0 + max(0.0, distance)) + bonus, "temporal"))
        found.sort(key=lambda h: -h.score)
        trace.append({"round": intent.kind, "anchor": [round(anchor.t_start, 2), round(anchor.t_end, 2)],
                      "window": [round(t0, 2), round(t1, 2)], "hits": _brief(found)})  # fmt: skip
        return found[:5]


_SAID_BONUS = {"subtitle": 0.5, "caption": 0.5, "ocr": 0.3}
"""What happens next is best told by what is said, then by what is written, then by the picture."""


def _window_boost(hit: Hit, span: list[tuple[float, float, float]]) -> float:
    for a, b, boost in span:
        if a <= hit.entry.t_start < b:
            return boost
    return 0.0


def _brief(hits: list[Hit], n: int = 5) -> list[dict]:
    return [
        {
            "source": h.group,
            "t": [round(h.entry.t_start, 2), round(h.entry.t_end, 2)],
            "score": round(h.score, 4),
            "via": h.via,
        }
        for h in hits[:n]
    ]


def ask(store_dir: str | Path, question: str, **kwargs) -> Answer:
    """One-shot convenience: open a store, ask, close."""
    with MemoryStore(store_dir) as store:
        return RetrievalAgent(store).ask(question, **kwargs)
