"""SubRip (``.srt``) and WebVTT (``.vtt``) readers, written by hand to be tolerant.

Both accept a byte-order mark, CRLF or CR line ends, a missing blank line at the end, multi-line
cues, and ``.``/``,`` before the milliseconds. SRT also survives cues with no blank line between
them and missing cue numbers; VTT skips ``NOTE``, ``STYLE`` and ``REGION`` blocks, ignores cue
identifiers and cue settings (``align:start position:10%``), and takes timestamps with or without
hours. A timestamp that cannot be read raises ``TextInputError`` naming the file and line; the
rest of the checks are ``validate_spans``'s (see ``vidmem.text.spans``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from vidmem.errors import TextInputError, TextWarning
from vidmem.text.encoding import read_text_file
from vidmem.text.spans import TextSpan, clean_text, validate_spans

# Hours up to six digits (over 100 years): longer runs of digits are not a time, and would reach
# Python's limit on converting digits to an integer.
_TIMESTAMP = re.compile(r"^(?:(\d{1,6}):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
# A line that looks like a timing line whose arrow is missing or mangled.
_TIMING_LIKE = re.compile(r"\d+:\d+.*\d+:\d+")
_SRT_SHAPE = "HH:MM:SS,mmm --> HH:MM:SS,mmm"
_VTT_SHAPE = "[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm"
_VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")


@dataclass
class _Cue:
    line: int
    start: float
    end: float
    text: list[str] = field(default_factory=list)


def parse_timestamp(token: str) -> float | None:
    """Reads ``[H:]MM:SS[.,fff]`` as seconds.

    Args:
        token: one timestamp (``00:01:02,500``, ``01:02.5``, ``1:02:03``).

    Returns:
        Seconds, or None when the token is not a timestamp (minutes or seconds of 60 or more
        count as not a timestamp).
    """
    match = _TIMESTAMP.match(token.strip())
    if match is None:
        return None
    hours, minutes, seconds, fraction = match.groups()
    if int(minutes) >= 60 or int(seconds) >= 60:
        return None
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def read_srt(path: str | Path, *, duration: float | None = None) -> list[TextSpan]:
    """Reads a SubRip file.

    Args:
        path: the ``.srt`` file.
        duration: the video's length in seconds, when known, to drop or clip late cues.

    Returns:
        Validated ``subtitle`` spans sorted by start; origins are ``<file name>:<timing line>``.

    Raises:
        TextInputError: unreadable file, a bad timestamp or timing line (naming file and line),
            or no cues in a non-empty file.
    """
    path = Path(path)
    lines = read_text_file(path).splitlines()
    cues = _parse_srt(lines, path)
    if not cues and any(line.strip() for line in lines):
        raise TextInputError(f"{path}: no SRT cues found (expected '{_SRT_SHAPE}' timing lines)")
    return validate_spans(_to_spans(cues, path), duration, str(path))


def read_vtt(path: str | Path, *, duration: float | None = None) -> list[TextSpan]:
    """Reads a WebVTT file.

    Args:
        path: the ``.vtt`` file.
        duration: the video's length in seconds, when known, to drop or clip late cues.

    Returns:
        Validated ``subtitle`` spans sorted by start; origins are ``<file name>:<timing line>``.

    Raises:
        TextInputError: unreadable file or a bad timestamp (naming file and line).
    """
    path = Path(path)
    lines = read_text_file(path).splitlines()
    cues = _parse_vtt(lines, path)
    return validate_spans(_to_spans(cues, path), duration, str(path))


def _to_spans(cues: list[_Cue], path: Path) -> list[TextSpan]:
    return [
        TextSpan(cue.start, cue.end, clean_text("\n".join(cue.text)), "subtitle", f"{path.name}:{cue.line}")
        for cue in cues
    ]


def _parse_timing(line: str, path: Path, lineno: int, shape: str) -> tuple[float, float]:
    """Reads ``start --> end [settings]``; anything after the end timestamp is ignored."""
    left, _, right = line.partition("-->")
    tokens = [left.strip(), (right.split() or [""])[0]]
    times = []
    for token in tokens:
        value = parse_timestamp(token)
        if value is None:
            raise TextInputError(f"{path}:{lineno}: bad timestamp {_clip(token)!r} (expected '{shape}')")
        times.append(value)
    return times[0], times[1]


def _next_line(lines: list[str], i: int) -> str:
    return lines[i + 1].strip() if i + 1 < len(lines) else ""


def _parse_srt(lines: list[str], path: Path) -> list[_Cue]:
    cues: list[_Cue] = []
    after_blank = True
    for i, raw in enumerate(lines):
        line = raw.strip()
        following = _next_line(lines, i)
        if "-->" in line:
            start, end = _parse_timing(line, path, i + 1, _SRT_SHAPE)
            cues.append(_Cue(i + 1, start, end))
        elif not line:
            after_blank = True
            continue
        elif line.isdigit() and "-->" in following:
            pass  # the cue number
        elif after_blank and line.isdigit() and _TIMING_LIKE.search(following):
            raise TextInputError(f"{path}:{i + 2}: bad timing line {_clip(following)!r} (expected '{_SRT_SHAPE}')")
        elif not cues:
            raise TextInputError(f"{path}:{i + 1}: expected a cue number or a timing line, got {line[:40]!r}")
        else:
            # Text after a blank line inside a cue is kept: blank lines in cue text are common.
            cues[-1].text.append(raw)
        after_blank = False
    return cues


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines as ``(index of first line, lines)``."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for i, raw in enumerate([*lines, ""]):
        if raw.strip():
            if not current:
                blocks.append((i, current))
            current.append(raw)
        else:
            current = []
    return blocks


def _parse_vtt(lines: list[str], path: Path) -> list[_Cue]:
    blocks = _blocks(lines)
    if blocks and blocks[0][1][0].strip().startswith("WEBVTT"):
        blocks = blocks[1:]
    else:
        warnings.warn(f"{path}: no 'WEBVTT' header; reading it as WebVTT anyway", TextWarning, stacklevel=3)
    cues: list[_Cue] = []
    for first, block in blocks:
        head = block[0].strip()
        if head.split(maxsplit=1)[0] in _VTT_SKIPPED_BLOCKS and "-->" not in head:
            continue
        cues.extend(_parse_vtt_block(block, first, path))
    return cues


def _parse_vtt_block(block: list[str], first: int, path: Path) -> list[_Cue]:
    """One block is normally one cue; more timing lines inside it start more cues."""
    cues: list[_Cue] = []
    for offset, raw in enumerate(block):
        line = raw.strip()
        lineno = first + offset + 1
        if "-->" in line:
            start, end = _parse_timing(line, path, lineno, _VTT_SHAPE)
            cues.append(_Cue(lineno, start, end))
        elif offset + 1 < len(block) and "-->" in block[offset + 1]:
            pass  # a cue identifier
        elif cues:
            cues[-1].text.append(raw)
        else:
            _check_vtt_orphan(line, path, lineno)
            return cues
    return cues


def _check_vtt_orphan(line: str, path: Path, lineno: int) -> None:
    """A block that does not start with a cue: a mangled timing line is an error, text is skipped."""
    if _TIMING_LIKE.search(line):
        raise TextInputError(f"{path}:{lineno}: bad timing line {_clip(line)!r} (expected '{_VTT_SHAPE}')")
    warnings.warn(f"{path}:{lineno}: skipped a block with no timing line", TextWarning, stacklevel=5)


def _clip(text: str, limit: int = 60) -> str:
    """A quoted piece of a bad line, short enough for a one-line error."""
    return text if len(text) <= limit else text[:limit] + "..."
