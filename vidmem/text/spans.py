"""Timed text: the ``TextSpan`` record, text cleaning and validation shared by every reader.

Validation policy (``validate_spans``), chosen so that a slightly broken subtitle file still
indexes and the user hears about what was changed:

- a time that is not a finite number raises ``TextInputError`` naming the cue;
- a cue whose end is before its start is **dropped** (not swapped: a reversed pair is usually a
  typo in one of the two times, and swapping would invent a long, wrong span), with a warning
  naming the cue;
- a start before 0 is clipped to 0 (warned);
- overlapping cues are kept; one warning per call names the first overlap and the count;
- with a known video duration, cues starting at or after the end are dropped (warned, naming
  them) and cues ending after it are clipped to it;
- cues whose cleaned text is empty are dropped silently (they carry no words);
- the result is sorted by start, then end.

Warnings are ``TextWarning`` (a ``UserWarning``) sent through ``warnings.warn``.
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from vidmem.errors import TextInputError, TextWarning

TextKind = Literal["subtitle", "caption", "ocr", "speech"]
TEXT_KINDS: tuple[str, ...] = ("subtitle", "caption", "ocr", "speech")

# How many offending cues a warning lists by name before it just counts.
_NAMED_IN_WARNING = 5

_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_VTT_TIME_TAG = re.compile(r"<\d[\d:.]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_ASS_BREAK = re.compile(r"\\[Nnh]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class TextSpan:
    """Words shown or spoken over a time range of a video.

    Attributes:
        t_start: start, seconds from the start of the video.
        t_end: end, seconds (``t_end >= t_start`` after validation).
        text: cleaned text: markup removed, entities decoded, whitespace folded to single spaces.
        kind: ``subtitle`` (SRT/VTT/embedded stream), ``caption`` (captions JSON), ``ocr`` or
            ``speech`` (transcribed audio).
        origin: where it came from, for messages and provenance: ``movie.srt:12`` (file and
            line of the timing line), ``captions.json item 3``, ``movie.mkv stream #2``.
        words: for speech, ``(word, t_start, t_end)`` of each word as heard; empty otherwise.
    """

    t_start: float
    t_end: float
    text: str
    kind: TextKind
    origin: str = ""
    words: tuple[tuple[str, float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in TEXT_KINDS:
            raise ValueError(f"TextSpan kind must be one of {', '.join(TEXT_KINDS)}, got {self.kind!r}")

    @property
    def duration(self) -> float:
        """Length of the span in seconds."""
        return self.t_end - self.t_start


def check_choice(what: str, value: str, known: tuple[str, ...]) -> None:
    """Raises ``ValueError`` naming the known choices (and the closest one) when ``value`` is not one."""
    if value not in known:
        close = difflib.get_close_matches(value, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {what} {value!r}{hint} (known: {', '.join(known)})")


def clean_text(raw: str) -> str:
    """Removes subtitle markup and folds whitespace.

    Strips HTML-like tags (``<i>``, ``<font color=..>``, ``<c.cls>``, ``<v Bob>``), VTT inline
    timestamps (``<00:00:01.000>``), ASS override blocks (``{\\an8}``) and ASS line breaks
    (``\\N``, ``\\h``), then decodes HTML entities (after the tags, so ``&lt;i&gt;`` stays text).

    Args:
        raw: cue text as found in the file, possibly multi-line.

    Returns:
        One line of text; ``""`` when nothing but markup was there.
    """
    text = _HTML_TAG.sub("", raw)
    text = _VTT_TIME_TAG.sub("", text)
    text = _ASS_OVERRIDE.sub("", text)
    text = _ASS_BREAK.sub(" ", text)
    text = html.unescape(text)
    return _SPACES.sub(" ", text).strip()


def validate_spans(spans: Iterable[TextSpan], duration: float | None, source: str) -> list[TextSpan]:
    """Checks, repairs and sorts spans read from one source (see the module docstring for the policy).

    Args:
        spans: spans as parsed, in any order.
        duration: the video's length in seconds, or None when unknown (no end checks then).
        source: the file or stream the spans came from, named in warnings.

    Returns:
        The kept spans, clipped where needed, sorted by ``(t_start, t_end)``.

    Raises:
        TextInputError: a span has a time that is not a finite number.
    """
    kept: list[TextSpan] = []
    reversed_cues: list[str] = []
    negative: list[str] = []
    for span in spans:
        _check_finite(span)
        if not span.text:
            continue
        if span.t_end < span.t_start:
            reversed_cues.append(span.origin)
            continue
        if span.t_start < 0:
            negative.append(span.origin)
            if span.t_end < 0:
                continue
            span = dataclasses.replace(span, t_start=0.0)
        kept.append(span)
    _warn_cues(reversed_cues, source, "end before they start and were dropped")
    _warn_cues(negative, source, "start before 0 s and were clipped to 0 (dropped if they end before 0)")
    if duration is not None:
        kept = _fit_to_duration(kept, duration, source)
    kept.sort(key=lambda s: (s.t_start, s.t_end))
    _warn_overlaps(kept, source)
    return kept


def _check_finite(span: TextSpan) -> None:
    if not (math.isfinite(span.t_start) and math.isfinite(span.t_end)):
        times = f"{span.t_start}, {span.t_end}"
        raise TextInputError(f"{span.origin or 'cue'}: times must be finite numbers, got {times}")


def _fit_to_duration(spans: Sequence[TextSpan], duration: float, source: str) -> list[TextSpan]:
    kept: list[TextSpan] = []
    late: list[str] = []
    for span in spans:
        if span.t_start >= duration:
            late.append(span.origin)
        elif span.t_end > duration:
            kept.append(dataclasses.replace(span, t_end=float(duration)))
        else:
            kept.append(span)
    _warn_cues(late, source, f"start after the video ends ({duration:.3f} s) and were dropped")
    return kept


def _warn_overlaps(spans: Sequence[TextSpan], source: str) -> None:
    """One warning per source: overlaps are legal (two speakers) but often mean a timing slip."""
    first: tuple[TextSpan, TextSpan] | None = None
    count = 0
    latest_end = -math.inf
    latest: TextSpan | None = None
    for span in spans:
        if latest is not None and span.t_start < latest_end:
            count += 1
            if first is None:
                first = (latest, span)
        if span.t_end > latest_end:
            latest_end, latest = span.t_end, span
    if first is not None:
        warnings.warn(
            f"{source}: {count} cue(s) overlap an earlier cue (kept), first {first[1].origin} "
            f"overlaps {first[0].origin}",
            TextWarning,
            stacklevel=3,
        )


def _warn_cues(origins: Sequence[str], source: str, what: str) -> None:
    if not origins:
        return
    named = ", ".join(origins[:_NAMED_IN_WARNING])
    more = f" and {len(origins) - _NAMED_IN_WARNING} more" if len(origins) > _NAMED_IN_WARNING else ""
    warnings.warn(f"{source}: {len(origins)} cue(s) {what}: {named}{more}", TextWarning, stacklevel=3)
