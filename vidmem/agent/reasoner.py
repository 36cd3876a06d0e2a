"""Reasoners turn retrieved memories into an answer. The embedded one needs no language model."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from encoders.registry import Registry
from vidmem.errors import QueryError
from vidmem.types import Answer, Evidence

REASONERS: Registry = Registry("reasoner")


@dataclass
class Occurrence:
    """A stretch of time where the asked-about thing was found."""

    t_start: float
    t_end: float
    score: float
    text: str = ""
    source: str = "episodic@clip"
    video: str = ""  # the source file, so occurrences in different videos of a collection stay apart


def fmt_time(seconds: float) -> str:
    """62.5 -> ``1:02.5``; 3725 -> ``1:02:05``."""
    seconds = max(0.0, float(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    sec = f"{s:04.1f}" if abs(s - round(s)) > 0.05 else f"{round(s):02d}"
    return f"{int(h)}:{int(m):02d}:{sec}" if h >= 1 else f"{int(m)}:{sec}"


def fmt_span(t0: float, t1: float) -> str:
    return fmt_time(t0) if abs(t1 - t0) < 0.05 else f"{fmt_time(t0)}-{fmt_time(t1)}"


@dataclass(frozen=True)
class EmbeddedReasonerConfig:
    """Attributes:
    temperature: softmax temperature over option scores for multiple-choice confidence.
    """

    temperature: float = 0.1

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")


class EmbeddedReasoner:
    """Answers from evidence alone: times, counts, the words found, option scoring."""

    def __init__(self, config: EmbeddedReasonerConfig | None = None) -> None:
        self.config = config or EmbeddedReasonerConfig()

    def decide(self, question, state, support, reader):  # noqa: ARG002  (the agent's own policy decides)
        """No say in the rounds: the agent's embedded policy picks them."""
        return None

    def answer(self, question, intent, hits, occurrences, choices, reader, n_evidence, trace, support=None) -> Answer:
        """The answer from the memories found; abstains (``found=False``) when ``support`` says they do not hold one."""
        evidence = _dedupe([h.evidence(reader.store) for h in hits])
        if choices:
            return self._choose(question, hits, choices, reader, evidence[:n_evidence], trace, support)
        if support is not None and not support.found:
            return abstain(hits, support, reader, n_evidence, trace)
        kind = intent.kind
        if occurrences and kind in ("count", "first", "last", "when"):
            return self._from_occurrences(kind, intent, occurrences, evidence, n_evidence, trace)
        top = hits[0]
        if kind in ("said", "written"):
            wanted = ("subtitle", "caption", "speech") if kind == "said" else ("ocr",)
            textual = [h for h in hits if h.entry.store == "text" and h.entry.scale in wanted] or [
                h for h in hits if h.entry.text
            ]
            top = textual[0] if textual else top
        when = fmt_span(top.entry.t_start, top.entry.t_end)
        if kind in ("before", "after") and occurrences:
            anchor = occurrences[0] if kind == "before" else occurrences[-1]
            body = top.entry.text or f"the scene at {when}"
            text = (
                f"{kind.capitalize()} {intent.target} (at {fmt_span(anchor.t_start, anchor.t_end)}), at {when}: {body}"
            )
        elif top.entry.text:
            text = f"At {when}: {top.entry.text}"
        else:
            text = f"The best match is at {when} ({top.group})."
        ev = _dedupe([top.evidence(reader.store)] + evidence)[:n_evidence]
        return Answer(text, None, _confidence(hits), ev, trace)

    def _from_occurrences(self, kind, intent, occ, evidence, n_evidence, trace) -> Answer:
        what = f"{intent.target} " if intent.target else ""
        spans = ", ".join(fmt_span(o.t_start, o.t_end) for o in occ[:10]) + (" ..." if len(occ) > 10 else "")
        if kind == "count":
            text = f"{len(occ)} time{'s' if len(occ) != 1 else ''}: {what}at {spans}"
            chosen = occ
        elif kind == "first":
            o = occ[0]
            text, chosen = f"First at {fmt_span(o.t_start, o.t_end)}" + (f": {o.text}" if o.text else ""), [o]
        elif kind == "last":
            o = occ[-1]
            text, chosen = f"Last at {fmt_span(o.t_start, o.t_end)}" + (f": {o.text}" if o.text else ""), [o]
        else:
            best = max(occ, key=lambda o: o.score)
            text = f"At {spans}" + (f": {best.text}" if best.text and len(occ) == 1 else "")
            chosen = occ
        if kind in ("count", "when"):
            chosen = sorted(chosen, key=lambda o: -o.score)
        occ_ev = [Evidence(o.source, o.t_start, o.t_end, o.score, o.text, video=o.video) for o in chosen]
        ev = _dedupe(occ_ev + evidence)[: max(n_evidence, len(occ_ev))]
        confidence = (
            min(1.0, 0.5 + 0.1 * len(occ_ev)) if kind == "count" else _confidence_scores([o.score for o in occ])
        )
        return Answer(text, None, confidence, ev, trace)

    def _choose(self, question, hits, choices, reader, evidence, trace, support=None) -> Answer:
        """Scores each option against what the question points at.

        The question's best hits, weighted by rank, and the words said or shown during them form the
        evidence; an option scores by its best weighted match (dense + lexical for text, the CLIP
        text tower against clip vectors when the encoder has one). Options never retrieve their own
        evidence, so an option that merely exists somewhere in the video gains nothing.

        It always chooses (benchmarks need a choice); the confidence is the option's softmax share
        scaled down when the question's evidence is weak (``support``) and when even the best option
        matches that evidence poorly.
        """
        if not reader.has_text and not reader.encoder.has_text:
            raise QueryError("this store has no text channel and its encoder no text tower: options cannot be scored")
        items = _evidence_items(hits[:CHOICE_HITS], reader)
        texts = [(t, w) for t, _, w in items if t]
        vecs = [(v, w) for _, v, w in items if v is not None]
        scores = np.zeros(len(choices))
        parts = {}
        if texts and reader.has_text:
            sims = reader.text_similarity(list(choices), [t for t, _ in texts])
            lexical = np.array([[_term_overlap(c, t) for t, _ in texts] for c in choices])
            weights = np.array([w for _, w in texts])
            text_part = ((0.5 * sims + 0.5 * lexical) * weights).max(axis=1)
            scores += text_part
            parts["text"] = text_part.round(4).tolist()
        if reader.encoder.has_text and vecs:
            clip_sims = reader.encoder.encode_text(list(choices)) @ np.stack([v for v, _ in vecs]).T
            visual = (clip_sims * np.array([w for _, w in vecs])).max(axis=1)
            scores += visual
            parts["visual"] = visual.round(4).tolist()
        probs = np.exp((scores - scores.max()) / self.config.temperature)
        probs /= probs.sum()
        best = int(np.argmax(scores))
        evidence_factor = 1.0 if support is None else min(1.0, 2.0 * support.strength)
        match_factor = float(np.clip((scores[best] - OPTION_NO_MATCH) / (OPTION_MATCH - OPTION_NO_MATCH), 0.1, 1.0))
        confidence = float(probs[best]) * evidence_factor * match_factor
        trace.append(
            {
                "round": "choose",
                "options": list(choices),
                "scores": scores.round(4).tolist(),
                "parts": parts,
                "evidence_factor": round(evidence_factor, 3),
                "match_factor": round(match_factor, 3),
            }
        )
        found = True if support is None else support.found
        return Answer(choices[best], best, round(confidence, 4), evidence, trace, found)


CHOICE_HITS = 5
"""Question hits whose evidence options are scored against."""

OPTION_NO_MATCH, OPTION_MATCH = 0.15, 0.5
"""An option's best evidence score (text: mean of cosine and word overlap) below the first is no match;
above the second, a full match. Paraphrases of a caption score 0.5-0.9, unrelated sentences 0.05-0.25."""


def abstain(hits, support, reader, n_evidence: int, trace: list[dict]) -> Answer:
    """Nothing supports an answer: say so, keep the closest memories as evidence, low confidence."""
    closest = support.best or hits[0]
    words = f' ("{closest.entry.text[:80]}")' if closest.entry.text else ""
    text = (
        "Nothing in the video supports an answer to this question; the closest memory is at "
        f"{fmt_span(closest.entry.t_start, closest.entry.t_end)} ({closest.group}){words}."
    )
    evidence = _dedupe([closest.evidence(reader.store)] + [h.evidence(reader.store) for h in hits])[:n_evidence]
    return Answer(text, None, round(0.3 * support.strength, 4), evidence, trace, found=False)


def _evidence_items(hits, reader) -> list[tuple[str, np.ndarray | None, float]]:
    """(text, vector, weight) for each hit and for each text entry overlapping it in time."""
    items = []
    seen: set[int] = set()
    for rank, h in enumerate(hits):
        weight = 1.0 / (1.0 + 0.25 * rank)
        if h.entry.id not in seen:
            seen.add(h.entry.id)
            items.append((h.entry.text, h.entry.vector, weight))
        for e in reader.texts_during(h.entry.t_start, h.entry.t_end):
            if e.id not in seen:
                seen.add(e.id)
                items.append((e.text, None, 0.9 * weight))
    return items


@REASONERS.register("embedded", EmbeddedReasonerConfig)
def _build_embedded(config: EmbeddedReasonerConfig) -> EmbeddedReasoner:
    return EmbeddedReasoner(config)


def _term_overlap(option: str, text: str) -> float:
    """Fraction of the option's content words (5-letter stems) present in ``text``."""
    from vidmem.memory.facts import STOPWORDS

    words = [w[:5] for w in re.findall(r"[a-z0-9']+", option.lower()) if w not in STOPWORDS and len(w) > 1]
    if not words:
        return 0.0
    have = {w[:5] for w in re.findall(r"[a-z0-9']+", text.lower())}
    return sum(w in have for w in words) / len(words)


def _confidence(hits) -> float:
    top = hits[0]
    base = min(1.0, max(0.0, (top.cosine - 0.2) / 0.7)) if top.cosine is not None else 0.6
    return _margin_blend(base, [h.score for h in hits])


def _confidence_scores(scores: list[float]) -> float:
    return _margin_blend(0.6, sorted(scores, reverse=True))


def _margin_blend(base: float, scores: list[float]) -> float:
    if len(scores) < 2 or scores[0] <= 0:
        return round(base, 4)
    margin = (scores[0] - scores[1]) / abs(scores[0])
    return round(min(1.0, 0.7 * base + 0.3 * (1 - math.exp(-5 * margin)) + 0.1 * (margin > 0.2)), 4)


def _dedupe(evidence: list[Evidence]) -> list[Evidence]:
    seen, out = set(), []
    for e in evidence:
        key = (e.source, round(e.t_start, 2), round(e.t_end, 2), e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


# The model reasoners register themselves beside the embedded one (their heavy imports wait until built).
from vidmem.agent import models as _models  # noqa: E402, F401
