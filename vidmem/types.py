"""Core types shared by the ingest pipeline, the stores and the agent.

Times are seconds from the start of the source. Frames are ``uint8 [T,H,W,3]`` RGB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Clip:
    """A short run of sampled frames (default 2 s).

    Attributes:
        stream_id: name of the source (file path or URL).
        index: clip number from the start of the stream (0-based, stable across resumes).
        t_start: time of the clip's start, seconds.
        t_end: time of the clip's end, seconds.
        frames: ``uint8 [T,H,W,3]`` RGB frames sampled inside the clip.
        timestamps: ``float [T]`` container time of each frame, seconds.
        text: words that fall inside the clip (subtitles, captions, on-screen text), may be empty.
    """

    stream_id: str
    index: int
    t_start: float
    t_end: float
    frames: np.ndarray
    timestamps: np.ndarray
    text: str = ""


@dataclass
class MemoryEntry:
    """One stored memory: a clip, a coarser episodic window, a keyframe or a concept.

    Attributes:
        id: row id in the store (0 before it is written).
        store: ``episodic``, ``visual``, ``semantic`` or ``text``.
        scale: window length name for episodic entries (``clip``, ``30s``, ``180s``, ``600s``),
            the text kind for text entries (``subtitle``, ``caption``, ``ocr``), else ``""``.
        t_start: seconds. t_end: seconds.
        vector: ``float32 [D]`` unit vector (stored as float16), or None.
        keyframe: keyframe file name relative to the store, or None.
        text: words attached to the entry.
        source: the source file or URL it came from.
        encoder: name and version of the encoder that made the vector.
        written_at: UNIX time the entry was written.
        extra: small JSON-able details (counts, occurrences).
    """

    store: str
    scale: str
    t_start: float
    t_end: float
    vector: np.ndarray | None = None
    keyframe: str | None = None
    text: str = ""
    source: str = ""
    encoder: str = ""
    written_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass
class Evidence:
    """A piece of memory offered in support of an answer.

    Attributes:
        source: ``episodic@<scale>``, ``semantic``, ``visual`` or ``text@<kind>``.
        t_start: seconds. t_end: seconds.
        score: retrieval score, higher is better (fused scores are not cosines).
        text: words attached to the memory, may be empty.
        keyframe: absolute path of a keyframe JPEG, or None.
        video: the source the memory came from.
    """

    source: str
    t_start: float
    t_end: float
    score: float
    text: str = ""
    keyframe: str | None = None
    video: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "t_start": round(float(self.t_start), 3),
            "t_end": round(float(self.t_end), 3),
            "score": round(float(self.score), 4),
            "text": self.text,
            "keyframe": self.keyframe,
            "video": self.video,
        }


@dataclass
class Answer:
    """What ``ask`` returns: an answer and the evidence it rests on.

    Attributes:
        text: the answer in words.
        choice: index of the chosen option for multiple choice, else None.
        confidence: 0..1, how sure the reasoner is.
        evidence: supporting memories, best first.
        trace: one dict per retrieval round (what was searched, what came back).
        found: False when the agent abstains: nothing in memory supports an answer (the evidence
            is then the closest memory, not support).
    """

    text: str
    choice: int | None
    confidence: float
    evidence: list[Evidence]
    trace: list[dict[str, Any]] = field(default_factory=list)
    found: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "found": bool(self.found),
            "choice": self.choice,
            "confidence": round(float(self.confidence), 4),
            "evidence": [e.to_json() for e in self.evidence],
            "trace": self.trace,
        }
