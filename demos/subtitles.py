"""Writers for subtitle and caption files, and a PyAV muxer that embeds subtitles in a video.

Used by the tests and the demo to make inputs with known words at known times.

Embedding works with PyAV alone (no ffmpeg program): the new container gets copies of the
input's video and audio streams (packets are remuxed, not re-encoded) and one subtitle stream
made with ``add_stream("subrip" | "mov_text" | "ass" | "webvtt")``. Each span becomes an
``av.subtitles.subtitle.SubtitleSet.create(...)`` holding one ASS event
(``ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text``), which the stream's codec
context turns into a packet with ``encode_subtitle``; the packet's pts and duration are in the
stream's time base, known once ``start_encoding()`` has written the header.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from vidmem.text import TextSpan

# Subtitle codec per output container; MP4/MOV only carry mov_text (3GPP timed text).
_CODEC_BY_SUFFIX = {
    ".mkv": "subrip",
    ".webm": "webvtt",
    ".mp4": "mov_text",
    ".mov": "mov_text",
    ".m4v": "mov_text",
}
_ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: {width}
PlayResY: {height}
ScaledBorderAndShadow: yes

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, \
Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, \
MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt_text(spans: Sequence[TextSpan]) -> str:
    """Spans as SubRip text: numbered cues, ``HH:MM:SS,mmm`` times, a blank line between cues."""
    blocks = [
        f"{i}\n{_clock(s.t_start, ',')} --> {_clock(s.t_end, ',')}\n{s.text}\n" for i, s in enumerate(spans, start=1)
    ]
    return "\n".join(blocks)


def write_srt(spans: Sequence[TextSpan], path: str | Path) -> Path:
    """Writes spans as a SubRip file (UTF-8, see ``srt_text``).

    Args:
        spans: cues in the order to write them.
        path: the ``.srt`` file to create or overwrite.

    Returns:
        The path written.
    """
    path = Path(path)
    path.write_text(srt_text(spans), encoding="utf-8")
    return path


def write_vtt(spans: Sequence[TextSpan], path: str | Path) -> Path:
    """Writes spans as a WebVTT file (``WEBVTT`` header, ``HH:MM:SS.mmm`` times).

    Args:
        spans: cues in the order to write them.
        path: the ``.vtt`` file to create or overwrite.

    Returns:
        The path written.
    """
    blocks = [f"{_clock(s.t_start, '.')} --> {_clock(s.t_end, '.')}\n{s.text}\n" for s in spans]
    path = Path(path)
    path.write_text("WEBVTT\n\n" + "\n".join(blocks), encoding="utf-8")
    return path


def write_captions_json(
    spans: Sequence[TextSpan],
    path: str | Path,
    form: Literal["seconds", "frames"] = "seconds",
    fps: float | None = None,
) -> Path:
    """Writes spans as captions JSON.

    Args:
        spans: captions to write.
        path: the ``.json`` file to create or overwrite.
        form: ``seconds`` for ``[{"start", "end", "text"}]``; ``frames`` for
            ``{"<startframe>_<endframe>": text}`` at ``fps`` (texts sharing a range are joined).
        fps: frame rate for ``frames``.

    Returns:
        The path written.

    Raises:
        ValueError: unknown form, or ``frames`` without a positive fps.
    """
    data: Any
    if form == "seconds":
        data = [{"start": round(s.t_start, 3), "end": round(s.t_end, 3), "text": s.text} for s in spans]
    elif form == "frames":
        if fps is None or fps <= 0:
            raise ValueError("form='frames' needs the video's frame rate (fps > 0)")
        data = {}
        for s in spans:
            key = f"{round(s.t_start * fps)}_{round(s.t_end * fps)}"
            data[key] = f"{data[key]} {s.text}" if key in data else s.text
    else:
        raise ValueError(f"form must be 'seconds' or 'frames', got {form!r}")
    path = Path(path)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def mux_subtitles(
    video_in: str | Path,
    spans: Sequence[TextSpan],
    out_path: str | Path,
    *,
    codec: str | None = None,
    language: str = "eng",
) -> Path:
    """Writes a new container: the input's video (and audio) copied, plus one subtitle stream.

    Args:
        video_in: the source video; it is not changed.
        spans: cues to embed; times are seconds from the start of the video.
        out_path: the new file; its suffix picks the container (``.mkv``, ``.mp4``, ``.mov``,
            ``.webm``).
        codec: subtitle codec; by default ``subrip`` for MKV, ``mov_text`` for MP4/MOV,
            ``webvtt`` for WebM.
        language: ISO 639-2 tag stored on the subtitle stream.

    Returns:
        The path written.

    Raises:
        ValueError: the container cannot hold the codec, or the suffix is unknown.
    """
    import av

    out_path = Path(out_path)
    codec = codec or _CODEC_BY_SUFFIX.get(out_path.suffix.lower())
    if codec is None:
        raise ValueError(f"cannot choose a subtitle codec for {out_path.suffix!r}; pass codec=")
    with av.open(str(video_in)) as source, av.open(str(out_path), "w") as target:
        copied = {s.index: target.add_stream_from_template(s) for s in (*source.streams.video, *source.streams.audio)}
        video = source.streams.video[0] if source.streams.video else None
        width, height = (video.width, video.height) if video is not None else (640, 360)
        subtitles = target.add_stream(codec)
        subtitles.metadata["language"] = language
        subtitles.codec_context.subtitle_header = _ASS_HEADER.format(width=width, height=height).encode()
        target.start_encoding()
        pending = [_subtitle_packet(subtitles, span, order) for order, span in enumerate(spans)]
        pending.sort(key=lambda p: p.pts, reverse=True)
        _remux_interleaved(source, target, copied, pending, subtitles.time_base)
    return out_path


def _subtitle_packet(stream: Any, span: TextSpan, order: int) -> Any:
    from av.subtitles.subtitle import SubtitleSet

    time_base = stream.time_base
    text = span.text.replace("\n", "\\N")
    event = f"{order},0,Default,,0,0,0,,{text}".encode()
    subtitle = SubtitleSet.create(
        event, 0, round((span.t_end - span.t_start) / time_base), round(span.t_start / time_base)
    )
    packet = stream.codec_context.encode_subtitle(subtitle)
    packet.stream = stream
    return packet


def _remux_interleaved(source: Any, target: Any, copied: dict[int, Any], pending: list[Any], sub_tb: Any) -> None:
    """Copies packets, slipping each subtitle packet in before the first later media packet."""
    for packet in source.demux(*(source.streams[i] for i in copied)):
        if packet.dts is None:
            continue  # flush packets carry no data
        now = packet.dts * packet.time_base
        while pending and pending[-1].pts * sub_tb <= now:
            target.mux(pending.pop())
        packet.stream = copied[packet.stream.index]
        target.mux(packet)
    while pending:
        target.mux(pending.pop())
