"""What a question asks for: a kind (when, how many, before, ...) and the thing it is about."""

from __future__ import annotations

import re
from dataclasses import dataclass

_KINDS: list[tuple[str, re.Pattern]] = [
    ("count", re.compile(r"\bhow (many times|often)\b|\bhow many\b|\bnumber of times\b|\bcount\b")),
    ("first", re.compile(r"\b(the )?first (time|appearance|occurrence)\b|\bfirst\b|\bearliest\b")),
    ("last", re.compile(r"\b(the )?(last|final) (time|appearance|occurrence)\b|\blast\b|\blatest\b")),
    ("before", re.compile(r"\b(before|prior to|preceding|just before|right before)\b")),
    ("after", re.compile(r"\b(after|following|afterwards|next after|right after|just after)\b")),
    (
        "said",
        re.compile(r"\b(said|say|says|saying|mention(ed|s)?|talk(ed|s)? about|narrat\w*|spoken|told)\b"),
    ),
    (
        "written",
        re.compile(r"\b(written|write|writes|sign|label|text on|on[- ]screen|displayed|caption on|read)\b"),
    ),
    (
        "when",
        re.compile(r"\bwhen\b|\bwhat time\b|\bat what (time|point|moment)\b|\btimestamp\b|\bwhere in the video\b"),
    ),
]

_FILLER = re.compile(
    r"\b(how many times|how often|how many|number of times|when|what time|at what (time|point|moment)|"
    r"the first time|the last time|first time|last time|first|last|earliest|latest|final|before|after|"
    r"prior to|following|just|right|what|which|who|where|why|how|is|are|was|were|does|do|did|the|a|an|"
    r"in the video|in this video|video|happens?|happened|appears?|appeared|shown|seen|show|see|there|"
    r"said|say|says|written|write|about|on screen|on-screen|sign|text|that|this|these|it|of|to|image|picture|"
    r"photo|frame|scene|shot)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Intent:
    """Attributes:
    kind: ``count``, ``first``, ``last``, ``before``, ``after``, ``said``, ``written``, ``when`` or ``open``.
    target: the question's subject with the asking words removed (what to look for).
    """

    kind: str
    target: str


def parse_intent(question: str) -> Intent:
    """Classifies a question by its cue words; the first matching kind in priority order wins."""
    q = question.lower().strip()
    kind = next((name for name, pattern in _KINDS if pattern.search(q)), "open")
    target = (split_anchor(question)[0] or question) if kind in ("before", "after") else question
    target = re.sub(r"\s+", " ", _FILLER.sub(" ", target)).strip(" ?.!,\"'")
    return Intent(kind, target or question.strip(" ?"))


_ANCHOR_WORD = re.compile(r"\b(?:just |right )?(?:before|after|prior to|following)\b", re.IGNORECASE)


def split_anchor(question: str) -> tuple[str, str]:
    """Splits a before/after question into (anchor event, what is asked about it).

    "After he closes the fridge, what does he pick up?" -> ("he closes the fridge", "what does he pick up");
    "What does he pick up after he closes the fridge?" -> ("he closes the fridge", "What does he pick up").
    Without a before/after word the anchor is "" and the whole question is asked.
    """
    q = question.strip().rstrip("?.! ")
    m = _ANCHOR_WORD.search(q)
    if m is None:
        return "", q
    head, tail = q[: m.start()].strip(" ,"), q[m.end() :].strip(" ,")
    if not head and "," in tail:
        anchor, asked = tail.split(",", 1)
        return anchor.strip(), asked.strip()
    return tail, head


def subject_words(text: str) -> str:
    """``text`` without asking words ("what does he pick up" -> "he pick up"), or ``text`` when nothing is left."""
    left = re.sub(r"\s+", " ", _FILLER.sub(" ", text)).strip(" ?.!,\"'")
    return left or text.strip(" ?.!,\"'")
