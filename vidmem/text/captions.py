"""Caption JSON reader: dense captions or transcripts with times, in two layouts.

1. Seconds: a list of ``{"start": s, "end": s, "text": ...}`` (``t_start``/``t_end`` and
   ``caption`` are accepted spellings; times may also be ``HH:MM:SS.mmm`` strings). The list may
   sit under a ``"segments"`` or ``"captions"`` key, as in Whisper's JSON output.
2. Frame ranges: ``{"<start frame>_<end frame>": "text", ...}`` counted at the video's frame
   rate, so ``fps`` is required. A span runs from ``start/fps`` to ``end/fps`` seconds.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from vidmem.errors import TextInputError
from vidmem.text.encoding import read_text_file
from vidmem.text.spans import TextSpan, clean_text, validate_spans
from vidmem.text.subtitle_files import parse_timestamp

_FRAME_KEY = re.compile(r"^\s*(\d+)\s*[_-]\s*(\d+)\s*$")
_START_KEYS = ("start", "t_start")
_END_KEYS = ("end", "t_end")
_TEXT_KEYS = ("text", "caption")
_LIST_KEYS = ("segments", "captions")


def read_captions_json(path: str | Path, fps: float | None = None, *, duration: float | None = None) -> list[TextSpan]:
    """Reads a captions JSON file in either layout.

    Args:
        path: the ``.json`` file.
        fps: the video's frame rate; required for the frame-range layout, unused otherwise.
        duration: the video's length in seconds, when known, to drop or clip late captions.

    Returns:
        Validated ``caption`` spans sorted by start. Origins are ``<file name> item <n>``
        (1-based) for the list layout and ``<file name> key '<key>'`` for frame ranges.

    Raises:
        TextInputError: not JSON, an unknown layout, a bad time or key (naming the item), or
            frame-range keys without a usable ``fps``.
    """
    path = Path(path)
    try:
        data = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise TextInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except RecursionError:
        raise TextInputError(f"{path}: JSON nested too deeply to be captions") from None
    except ValueError:  # e.g. a number of thousands of digits (Python's int-conversion limit)
        # Python's own text ("Exceeds the limit (4300 digits) for integer string conversion...") is not ours to show
        raise TextInputError(f"{path}: not usable JSON (a number with thousands of digits)") from None
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if isinstance(data, list):
        spans = [_item_span(item, i, path) for i, item in enumerate(data, start=1)]
    elif data == {}:
        spans = []
    elif isinstance(data, dict) and all(_FRAME_KEY.match(k) for k in data):
        spans = _frame_spans(data, fps, path)
    else:
        raise TextInputError(
            f'{path}: unknown captions layout; expected a list of {{"start", "end", "text"}} '
            'objects or a mapping of "<startframe>_<endframe>" keys to text'
        )
    return validate_spans(spans, duration, str(path))


def _pick(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in item:
            return item[key]
    return None


def _seconds(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            raise TextInputError(f"{where}: {name} time is too large ({str(value)[:20]}...)") from None
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is None:
            try:
                parsed = float(value)
            except ValueError:
                parsed = None
        if parsed is not None:
            return parsed
    raise TextInputError(f"{where}: bad {name} time {value!r} (expected seconds or HH:MM:SS.mmm)")


def _item_span(item: Any, index: int, path: Path) -> TextSpan:
    where = f"{path} item {index}"
    if not isinstance(item, dict):
        kind = type(item).__name__
        raise TextInputError(f"{where}: expected an object with start, end and text, got {kind}")
    start, end, text = _pick(item, _START_KEYS), _pick(item, _END_KEYS), _pick(item, _TEXT_KEYS)
    if start is None or end is None or text is None:
        raise TextInputError(f"{where}: needs 'start' (or 't_start'), 'end' (or 't_end') and 'text'")
    if not isinstance(text, str):
        raise TextInputError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    return TextSpan(
        _seconds(start, where, "start"),
        _seconds(end, where, "end"),
        clean_text(text),
        "caption",
        f"{path.name} item {index}",
    )


def _frame_spans(data: dict[str, Any], fps: float | None, path: Path) -> list[TextSpan]:
    if fps is None:
        raise TextInputError(
            f"{path} uses frame-range keys like '120_180'; the video's frame rate (fps) is needed to read it"
        )
    if not (math.isfinite(fps) and fps > 0):
        raise TextInputError(f"{path}: frame rate must be a positive number, got {fps}")
    spans = []
    for key, text in data.items():
        if not isinstance(text, str):
            raise TextInputError(f"{path} key {key!r}: text must be a string, got {type(text).__name__}")
        origin = f"{path.name} key {key[:40]!r}"
        try:
            first, last = (int(n) for n in _FRAME_KEY.findall(key)[0])
            spans.append(TextSpan(first / fps, last / fps, clean_text(text), "caption", origin))
        except (OverflowError, ValueError):  # thousands of digits: past a float, or Python's int limit
            raise TextInputError(f"{path} key {key[:40]!r}: frame number too large") from None
    return spans
