"""The retrieval agent: rounds of (pick source, scale and window, retrieve, judge, refine, stop), then the reasoner.

Search rounds (``vidmem.agent.rounds``) reach the finest memories first (text channels, clip
vectors, keyframes), judge whether they support an answer (``vidmem.agent.support``), and when they
do not, read the coarse episodic windows and search again inside the best ones (HCAM). A language
model reasoner may pick the rounds instead; the embedded policy takes over when its output is
malformed. Then: ``context`` re-ranks hits by their coarse window, ``occurrences`` collects every
matching stretch (when / first / last / how many), and before/after questions chain an
``anchor`` round with a ``neighbourhood`` round around it. Optionally exactly ``budget`` memories
are selected for the reasoner. Every round is one entry of ``Answer.trace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidmem.agent import neighbourhood, rounds
from vidmem.agent.image_search import GLOBAL_CANDIDATES, ImageVerifier, verified_first
from vidmem.agent.intent import Intent, parse_intent, split_anchor, subject_words
from vidmem.agent.reader import Hit, MemoryReader, fuse
from vidmem.agent.reasoner import REASONERS, Occurrence
from vidmem.agent.support import Support, SupportConfig, judge
from vidmem.errors import QueryError
from vidmem.storage.store import MemoryStore
from vidmem.types import Answer

LOCATE_STORES = ("episodic", "visual", "text")
TEMPORAL = ("count", "first", "last", "before", "after", "when")


@dataclass(frozen=True)
class AgentConfig:
    """Attributes:
    k: hits retrieved per search.
    evidence: evidence items returned with an answer.
    reasoner: registered reasoner name (``embedded``, ``openai``, ``transformers``).
    model: the model a model reasoner uses (endpoint model name, or a path / HF cache id).
    max_rounds: search rounds before the agent stops (round budget).
    budget: when set, exactly this many question-related memories are handed to the reasoner.
    support: the thresholds of the sufficiency test and of abstention.
    """

    k: int = 12
    evidence: int = 5
    reasoner: str = "embedded"
    model: str | None = None
    max_rounds: int = 6
    budget: int | None = None
    support: SupportConfig = field(default_factory=SupportConfig)

    def __post_init__(self) -> None:
        if self.k < 1 or self.evidence < 1:
            raise ValueError("k and evidence must be >= 1")
        if self.max_rounds < 1:
            raise ValueError("max_rounds must be >= 1")
        if self.budget is not None and self.budget < 1:
            raise ValueError("budget must be >= 1 (or None for no budget)")


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
        self.verifier = ImageVerifier(store)
        overrides = {"model": self.config.model} if self.config.model else {}
        if overrides and self.config.reasoner == "embedded":
            raise QueryError("--model needs a model reasoner: add --reasoner openai or --reasoner transformers")
        self.reasoner = REASONERS.build(self.config.reasoner, **overrides)

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
        anchor, asked = split_anchor(question) if intent.kind in ("before", "after") else ("", question)
        query = anchor or question
        self._image_vector = self.encoder.encode_images(image[None])[0] if image is not None else None
        self._image_query = image
        state = rounds.RoundState(query, image is not None, window, self._sources(question, image), self._coarse())
        support = self._search_rounds(question, intent, state)
        if not state.hits:
            raise QueryError(self._why_nothing(image))
        hits = verified_first(self._context(state.hits, window, state.records))
        occurrences = None
        if intent.kind in TEMPORAL and support.found:
            occurrences = self._occurrences(intent, image, hits, window, state.records)
            if intent.kind in ("before", "after") and occurrences:
                near, anchor_occ = neighbourhood.search(self, intent.kind, occurrences, asked, window, state.records)
                hits, occurrences = near + hits, [anchor_occ]
        if self.config.budget is not None:
            hits = self._select(query, hits, state.records)
        return self.reasoner.answer(
            question, intent, hits, occurrences, choices, self.reader, self.config.evidence, state.records, support
        )

    # --- search rounds --------------------------------------------------------------------

    def _sources(self, question: str, image) -> list[str]:
        sources = []
        if image is not None:
            sources += ["episodic@clip", "visual"]
        if question and self.reader.has_text:
            sources.append("text")
        if question and image is None and self.encoder.has_text:
            sources.append("episodic@clip")
        coarse = self._coarse()
        if coarse and (self.reader.has_text or self.encoder.has_text or image is not None):
            sources.append(f"episodic@{coarse}")
        return sources

    def _coarse(self) -> str | None:
        scales = [sc for s, sc, n in self.store.groups() if s == "episodic" and sc != "clip" and n >= 2]
        return min(scales, key=lambda s: float(s.rstrip("s")), default=None)

    def _search_rounds(self, question: str, intent: Intent, state: rounds.RoundState) -> Support:
        subject = subject_words(state.subject) if state.subject else ""
        support = Support(False, 0.0, "none")
        last: dict = {}
        for _ in range(self.config.max_rounds):
            step, raw, by = self._next_step(question, state, support)
            if last:  # each round's record carries the decision taken after it
                last["decision"] = step if isinstance(step, str) else f"{step.purpose} {step.source}"
            if isinstance(step, str):
                return self._stop(state, step, support, by, raw)
            found = self._search(step)
            if rounds.is_coarse_source(step.source):
                state.chunks, new = rounds.merge_hits(state.chunks, found)
            else:
                state.hits, new = rounds.merge_hits(state.hits, found)
            state.done.append(step)
            state.new_last = new
            support = judge(self.reader, subject, state.hits, self.config.support, self._image(state))
            entry = rounds.record(step, found, new, by, raw)
            entry["support"] = support.to_json()
            state.records.append(entry)
            last = entry
        if last:
            last["decision"] = "round budget"
        return self._stop(state, "round budget", support)

    def _next_step(self, question, state, support) -> tuple[rounds.Step | str, str | None, str]:
        """Asks the reasoner for the next round; the embedded policy decides when it has no say or fails."""
        proposal = self.reasoner.decide(question, state, support, self.reader) if state.done else None
        if proposal is not None:
            step, raw, error = proposal
            if error is None and isinstance(step, rounds.Step) and step.source in self._valid_sources(state):
                return step, raw, "model"
            if error is None and step == "answer":
                # retrieval-score guard: a model may stop only once the evidence supports an answer
                if support.found:
                    return "enough", raw, "model"
                error = "the model wanted to answer but the evidence does not support one"
            fallback = rounds.embedded_next(state, support.found)
            state.records.append({"round": "fallback", "raw": raw, "error": error or "unknown memory"})
            return fallback, None, "embedded"
        return rounds.embedded_next(state, support.found), None, "embedded"

    def _valid_sources(self, state: rounds.RoundState) -> set[str]:
        return (
            set(state.sources)
            | {f"episodic@{sc}" for s, sc, _ in self.store.groups() if s == "episodic"}
            | {"semantic"}
        )

    def _stop(self, state: rounds.RoundState, why: str, support: Support, by="embedded", raw=None) -> Support:
        entry = {"round": "stop", "decision": why, "by": by, "support": support.to_json()}
        if raw is not None:
            entry["raw"] = raw
        state.records.append(entry)
        return support

    def _image(self, state: rounds.RoundState):
        return self._image_vector if state.image else None

    def _search(self, step: rounds.Step) -> list[Hit]:
        """Runs one step: image, CLIP text or words against one source, inside the step's window."""
        k, window = self.config.k, step.window
        store, _, scale = step.source.partition("@")
        if self._image_vector is not None and store in ("episodic", "visual"):
            if step.source == "episodic@clip":
                return self._image_clips(k, window)
            return _relabel(self.reader.search_vector(self._image_vector, step.source, k, window), "image")
        if store == "text":
            return self.reader.search_text(step.query, k, window, stores=LOCATE_STORES)
        found = []
        if self.encoder.has_text and store in ("episodic", "visual"):
            qv = self.encoder.encode_text([step.query])[0]
            found = _relabel(self.reader.search_vector(qv, step.source, k, window), "clip-text")
        if self.reader.has_text:
            found = rounds.merge_hits(found, self._text_in(step.query, k, window, store, scale or None))[0]
        return found[:k]

    def _image_clips(self, k: int, window) -> list[Hit]:
        """Clips by the global descriptor, with those the query's local features verify put first."""
        ranked = _relabel(
            self.reader.search_image(self._image_query, self._image_vector, max(k, GLOBAL_CANDIDATES), window),
            "image",
        )
        verified = self.verifier.verify(self._image_query, ranked, window)
        ids = {h.entry.id for h in verified}
        return (verified + [h for h in ranked if h.entry.id not in ids])[:k]

    def _text_in(self, query: str, k: int, window, store: str, scale: str | None) -> list[Hit]:
        """Hybrid text search over one store (and scale), e.g. the coarse windows' words."""
        allowed = self.store.select_ids(store, scale, *(window or (None, None)), with_text=True)
        if len(allowed) == 0:
            return []
        pool = max(3 * k, 100)
        return fuse(self.reader.dense_text(query, pool, allowed), self.reader.lexical_text(query, pool, allowed), k)

    def _why_nothing(self, image) -> str:
        if image is None and not self.reader.has_text and not self.encoder.has_text:
            return (
                f"store {self.store.root} has no text channel and its encoder {self.encoder.name!r} has no text "
                "tower; ask with --image, or index with subtitles/captions/OCR or a CLIP encoder"
            )
        return "nothing in the store matches the question (check the time window)"

    # --- after the search rounds ----------------------------------------------------------

    def _context(self, hits: list[Hit], window, trace) -> list[Hit]:
        """Re-ranks fine hits by how strongly their coarse window as a whole matches (HCAM)."""
        scale = self._coarse()
        if scale is None or len(hits) < 2:
            return hits
        # (id, t_start, t_end) only: decoding every window's vector and metadata is most of the cost
        windows = self.store.time_spans(self.store.select_ids("episodic", scale, *(window or (None, None))))
        if len(windows) < 2:
            return hits
        support: dict[int, float] = {}
        for h in hits:
            for wid, w0, w1 in windows:
                if w0 <= h.entry.t_start < w1 or (w0 <= h.entry.t_end <= w1):
                    support[wid] = support.get(wid, 0.0) + h.score
                    break
        if not support:
            return hits
        top = max(support.values())
        boost = {wid: support.get(wid, 0.0) / top for wid, _, _ in windows}
        span = [(w0, w1, boost[wid]) for wid, w0, w1 in windows]
        reranked = sorted(hits, key=lambda h: -(h.score * (1.0 + 0.25 * _window_boost(h, span))))
        strong = [[round(w0, 2), round(w1, 2), round(boost[wid], 3)] for wid, w0, w1 in windows if boost[wid] > 0]
        trace.append({"round": "context", "source": "episodic", "scale": scale, "windows": strong[:5]})
        return reranked

    def _occurrences(self, intent: Intent, image, hits: list[Hit], window, trace) -> list[Occurrence]:
        from vidmem.agent.occurrences import find_occurrences

        occ, how = find_occurrences(self.reader, intent, image, hits, window, self.encoder)
        trace.append(
            {
                "round": "occurrences" if intent.kind not in ("before", "after") else "anchor",
                "source": how,
                "query": intent.target,
                "window": list(window) if window else None,
                "found": [[round(o.t_start, 2), round(o.t_end, 2)] for o in occ][:20],
            }
        )
        return occ

    def _select(self, query: str, hits: list[Hit], trace) -> list[Hit]:
        """Exactly ``budget`` question-related memories: the best hits, topped up by a wider search."""
        from vidmem.agent.budget import select_memories

        chosen, note = select_memories(self, query, hits, self.config.budget)
        trace.append(
            {
                "round": "select",
                "budget": self.config.budget,
                "selected": rounds.brief(chosen, len(chosen)),
                **({"note": note} if note else {}),
            }
        )
        return chosen


def _relabel(hits: list[Hit], via: str) -> list[Hit]:
    """Names plain dense hits by what the query was (``image``, ``clip-text``); other labels are kept."""
    for h in hits:
        if h.via == "dense":
            h.via = via
    return hits


def _window_boost(hit: Hit, span: list[tuple[float, float, float]]) -> float:
    for a, b, boost in span:
        if a <= hit.entry.t_start < b:
            return boost
    return 0.0


def ask(store_dir: str | Path, question: str, config: AgentConfig | None = None, **kwargs) -> Answer:
    """One-shot convenience: open a store, ask, close."""
    with MemoryStore(store_dir) as store:
        return RetrievalAgent(store, config).ask(question, **kwargs)
