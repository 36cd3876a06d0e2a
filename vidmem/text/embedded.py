"""Subtitle streams inside a video container (MKV, MP4, WebM), read with PyAV.

Text streams (``subrip``, ``mov_text``, ``webvtt``, ``ass``/``ssa`` and any decoder that yields
text rects) are demuxed and decoded; each packet becomes one span. Times come from the packet:
``pts * time_base`` to ``(pts + duration) * time_base``; when a packet has no duration the
decoded ``end_display_time`` is used, and failing that the cue lasts until the next cue of the
same stream, at most ``OPEN_CUE_SECONDS``. Bitmap streams (DVD, PGS, DVB) have no words to read
and are skipped with a ``TextWarning``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidmem.errors import TextWarning, VideoError
from vidmem.text.spans import TextSpan, clean_text, validate_spans

OPEN_CUE_SECONDS = 5.0
# AVSubtitle.end_display_time when the decoder does not know it.
_UNKNOWN_END_MS = 0xFFFFFFFF
# Packet layout of ASS events in Matroska/FFmpeg: ReadOrder,Layer,Style,Name,MarginL,MarginR,
# MarginV,Effect,Text (9 fields); a full "Dialogue:" line has Layer,Start,End,... (10 fields).
_ASS_PACKET_FIELDS = 9
_ASS_DIALOGUE_FIELDS = 10
_ASS_BLOCK = re.compile(r"\{[^}]*\}")


@dataclass
class _Cue:
    stream: int
    start: float
    end: float | None
    text: str


def ass_to_text(event: str) -> str:
    """Plain words of one ASS event.

    Args:
        event: an ASS packet payload (``0,0,Default,,0,0,0,,{\\i1}Hi{\\i0}\\Nthere``) or a full
            ``Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,text`` line.

    Returns:
        The text field with override blocks removed and line breaks folded (``Hi there``).
    """
    event = event.strip()
    if event.startswith("Dialogue:"):
        fields = event[len("Dialogue:") :].split(",", _ASS_DIALOGUE_FIELDS - 1)
        text = fields[-1] if len(fields) == _ASS_DIALOGUE_FIELDS else event
    else:
        fields = event.split(",", _ASS_PACKET_FIELDS - 1)
        text = fields[-1] if len(fields) == _ASS_PACKET_FIELDS else event
    return clean_text(_ASS_BLOCK.sub("", text))


def read_embedded_subtitles(video_path: str | Path) -> list[TextSpan]:
    """Reads every text subtitle stream of a video.

    Args:
        video_path: a container file (MKV, MP4, MOV, WebM, ...).

    Returns:
        Validated ``subtitle`` spans from all text streams, sorted by start; origins are
        ``<file name> stream #<index>``. A video without subtitle streams gives ``[]``.

    Raises:
        VideoError: the file cannot be opened as a container.
    """
    import av

    path = Path(video_path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open {path} to read its subtitles: {exc}") from exc
    with container:
        streams = _text_streams(container.streams.subtitles, path)
        if not streams:
            return []
        duration = container.duration / 1_000_000 if container.duration else None
        cues = _demux_cues(container, streams, path)
    spans = [
        TextSpan(
            cue.start,
            cue.end if cue.end is not None else cue.start,
            cue.text,
            "subtitle",
            f"{path.name} stream #{cue.stream}",
        )
        for cue in _close_open_cues(cues)
    ]
    return validate_spans(spans, duration, f"{path} (embedded subtitles)")


def _text_streams(streams: Iterable[Any], path: Path) -> list[Any]:
    """Subtitle streams we can read words from; the others are named in a warning."""
    kept = []
    for stream in streams:
        context = stream.codec_context
        if context is None:
            _warn(path, f"stream #{stream.index} has no subtitle decoder in this FFmpeg build; skipped")
        elif context.codec.bitmap_sub and not context.codec.text_sub:
            _warn(path, f"stream #{stream.index} holds bitmap subtitles ({context.name}); skipped (no words)")
        else:
            kept.append(stream)
    return kept


def _demux_cues(container: Any, streams: list[Any], path: Path) -> list[_Cue]:
    import av

    cues: list[_Cue] = []
    failed = 0
    for packet in container.demux(*streams):
        if packet.pts is None:
            continue  # the flush packet at the end of each stream
        try:
            subset = packet.stream.decode2(packet)
        except av.FFmpegError:
            failed += 1
            continue
        if subset is not None:
            cues.append(_packet_cue(packet, subset))
    if failed:
        _warn(path, f"{failed} subtitle packet(s) could not be decoded and were skipped")
    return cues


def _packet_cue(packet: Any, subset: Any) -> _Cue:
    base = float(packet.pts * packet.time_base)
    start = base + subset.start_display_time / 1000
    if packet.duration:
        end: float | None = float((packet.pts + packet.duration) * packet.time_base)
    elif 0 < subset.end_display_time < _UNKNOWN_END_MS:
        end = base + subset.end_display_time / 1000
    else:
        end = None
    words = (_rect_text(rect) for rect in subset)
    return _Cue(packet.stream.index, start, end, " ".join(w for w in words if w))


def _rect_text(rect: Any) -> str:
    kind = getattr(rect, "type", b"")
    if kind == b"ass":
        return ass_to_text(rect.ass.decode("utf-8", "replace"))
    if kind == b"text":
        return clean_text(rect.text.decode("utf-8", "replace"))
    return ""


def _close_open_cues(cues: list[_Cue]) -> list[_Cue]:
    """Gives cues of unknown length an end: the next cue of the stream, capped."""
    by_stream: dict[int, list[_Cue]] = {}
    for cue in sorted(cues, key=lambda c: c.start):
        by_stream.setdefault(cue.stream, []).append(cue)
    for stream_cues in by_stream.values():
        for cue, following in zip(stream_cues, [*stream_cues[1:], None], strict=True):
            if cue.end is None:
                limit = cue.start + OPEN_CUE_SECONDS
                cue.end = min(limit, following.start) if following is not None else limit
    return cues


def _warn(path: Path, message: str) -> None:
    warnings.warn(f"{path}: {message}", TextWarning, stacklevel=4)
