"""Opening video sources: files are checked with PyAV before any decoding; live sources use OpenCV.

Every problem with a file is raised as a ``VideoError`` whose message is one line naming the file.
Times are seconds from the start of the video stream (the stream's own start time is subtracted).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging

from vidmem.errors import VideoError

BACKENDS = ("auto", "decord", "pyav", "opencv")
LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "udp", "tcp", "http", "https")
_FIRST_FRAME_PACKETS = 600  # packets tried before declaring that nothing decodes
_IMAGE_FORMATS = ("image2", "_pipe")  # FFmpeg demuxers for still images (png_pipe, jpeg_pipe, ...)


@dataclass
class VideoInfo:
    """What ``probe_video`` learns about a source.

    Attributes:
        path: the file path or live source spec.
        duration: seconds, or None when unknown (live sources).
        fps: average frame rate (0.0 when unknown).
        width: frame width in pixels. height: frame height in pixels.
        n_frames: frame count (exact from the decord index, else from the container or
            estimated as duration x fps), or None when unknown.
        backend: the backend ``sample_frames`` would use: ``decord``, ``pyav`` or ``opencv``.
    """

    path: str
    duration: float | None
    fps: float
    width: int
    height: int
    n_frames: int | None
    backend: str


@dataclass
class VideoFile:
    """A video file that passed the checks in ``inspect_file`` (internal to ``vidmem.io``).

    Attributes:
        path: the file path.
        format_name: FFmpeg demuxer name. codec: FFmpeg codec name.
        duration: seconds, or None when the container does not say.
        fps: average frame rate, 0.0 when unknown.
        width: pixels. height: pixels.
        n_frames: frames recorded by the container (or estimated), None when unknown.
        time_base: the video stream's time base.
        start_pts: the stream's start time in ``time_base`` units (subtracted from every pts).
        first_time: time of the first decodable frame, seconds.
    """

    path: str
    format_name: str
    codec: str
    duration: float | None
    fps: float
    width: int
    height: int
    n_frames: int | None
    time_base: Fraction
    start_pts: int
    first_time: float

    def seconds(self, pts: int) -> float:
        """Stream time of a pts, seconds from the stream start."""
        return float((pts - self.start_pts) * self.time_base)


def one_line(text: object, limit: int = 160) -> str:
    """Collapse whitespace so a message fits on one line, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_live_source(source: object) -> bool:
    """True for a webcam index (``0`` or ``"0"``) or a network URL (rtsp://, http://, ...).

    A string of digits that names an existing file is a file, not a webcam.
    """
    if isinstance(source, bool):
        return False
    if isinstance(source, int):
        return True
    if not isinstance(source, str):
        return False
    if source.isdigit():
        return not os.path.exists(source)
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", source)
    return bool(match) and match.group(1).lower() in LIVE_SCHEMES


def check_backend(backend: str) -> str:
    """Validate a backend name; returns it lower-cased."""
    name = backend.lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return name


def open_container(path: str) -> Any:
    """Open ``path`` with PyAV, turning every failure into a one-line ``VideoError``.

    Returns:
        An ``av.container.InputContainer``; the caller closes it.
    """
    check_file_path(path)
    logs: list[tuple[int, str, str]] = []
    try:
        container = _open_with_logs(path, logs)
    except PermissionError as exc:
        raise VideoError(f"cannot read {path}: permission denied") from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(_open_failure_message(path, exc, logs)) from exc
    try:
        _check_is_video(path, container, logs)
    except VideoError:
        container.close()
        raise
    return container


def _open_with_logs(path: str, logs: list[tuple[int, str, str]]) -> Any:
    """``av.open`` while capturing FFmpeg's log lines (they name unknown codecs and missing atoms)."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        with av.logging.Capture(local=True) as captured:
            try:
                return av.open(path, metadata_errors="ignore")
            finally:
                logs.extend(captured)
    finally:
        av.logging.set_level(previous)


def check_file_path(path: str) -> None:
    """Raise a one-line ``VideoError`` unless ``path`` is an existing, non-empty file."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"video file not found: {path}")
    if p.is_dir():
        raise VideoError(f"{path} is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes), not a video file")


def _sniff_family(path: str) -> str | None:
    """Name the container family from the first bytes, or None when unrecognised."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(400)
    except OSError:
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "MPEG-TS"
    if head[:3] == b"FLV":
        return "FLV"
    return None


def _open_failure_message(path: str, exc: BaseException, logs: list[tuple[int, str, str]]) -> str:
    family = _sniff_family(path)
    if family is None:
        return f"{path} is not a video file (FFmpeg does not recognise its format)"
    text = " ".join(message for _, _, message in logs)
    if "moov atom not found" in text:
        reason = "no 'moov' index: the file was cut short or is still being written"
    else:
        reason = one_line(getattr(exc, "strerror", None) or exc, 100)
    return f"{path}: cannot read this {family} file, it is truncated or corrupt ({reason})"


def _check_is_video(path: str, container: Any, logs: list[tuple[int, str, str]]) -> None:
    """Reject text, still images, files without video and video in an unsupported codec."""
    format_name = container.format.name
    if format_name == "tty":
        raise VideoError(f"{path} is not a video file (it looks like text)")
    if any(tag in format_name for tag in _IMAGE_FORMATS):
        raise VideoError(f"{path} is a still image, not a video")
    stream = video_stream(container)
    if stream is None:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"{path} has no video stream (streams found: {', '.join(kinds)})")
    if stream.codec_context is None:
        raise VideoError(f"{path}: unsupported video codec {_codec_name_from_logs(logs)!r}")


def _codec_name_from_logs(logs: list[tuple[int, str, str]]) -> str:
    """Best guess at the name of a codec FFmpeg cannot decode, from its log lines."""
    for _, _, message in logs:
        found = re.search(r"Unknown/unsupported AVCodecID (\S+?)\.?\s*$", message)
        if found:
            return found.group(1)
        found = re.search(r"Video: (\w+) \((\S+) / 0x", message)
        if found:
            return found.group(2) if found.group(1) == "none" else found.group(1)
    return "unknown"


def video_stream(container: Any) -> Any | None:
    """The first video stream that is not cover art, or None."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def inspect_file(path: str | os.PathLike[str]) -> VideoFile:
    """Check that ``path`` is a decodable, complete video file and read its metadata.

    Checks, in order: the path exists and is a file; FFmpeg recognises the format; it is not text
    or a still image; it has a video stream in a codec FFmpeg can decode; a first frame decodes;
    the end of the file is there (a container that declares 60 s must hold data near 60 s).

    Raises:
        VideoError: one line naming the file and the problem.
    """
    path = os.fspath(path)
    container = open_container(path)
    try:
        stream = video_stream(container)
        info = _describe(path, container, stream)
        info.first_time = _first_frame_time(path, container, stream, info)
        _check_complete(path, container, info)
    finally:
        container.close()
    return info


def _describe(path: str, container: Any, stream: Any) -> VideoFile:
    time_base = stream.time_base or Fraction(1, 90000)
    duration = None
    if stream.duration:
        duration = float(stream.duration * time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    fps = _rate(stream.average_rate) or _rate(stream.guessed_rate)
    n_frames = stream.frames or None
    if n_frames is None and duration and fps:
        n_frames = round(duration * fps)
    ctx = stream.codec_context
    return VideoFile(
        path=path,
        format_name=container.format.name,
        codec=ctx.name,
        duration=duration,
        fps=fps,
        width=ctx.width,
        height=ctx.height,
        n_frames=n_frames,
        time_base=time_base,
        start_pts=stream.start_time or 0,
        first_time=0.0,
    )


def _rate(rate: Any) -> float:
    value = float(rate) if rate else 0.0
    return value if math.isfinite(value) and 0 < value < 1000 else 0.0


def _first_frame_time(path: str, container: Any, stream: Any, info: VideoFile) -> float:
    """Decode until one good frame comes out; returns its time."""
    try:
        for tries, packet in enumerate(container.demux(stream)):
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError:
                frames = []
            for frame in frames:
                if frame.pts is not None and not frame.is_corrupt:
                    return info.seconds(frame.pts)
            if tries >= _FIRST_FRAME_PACKETS:
                break
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"{path}: no decodable video frames (reading failed: {one_line(exc, 80)})") from exc
    raise VideoError(f"{path}: no decodable video frames ({info.codec} stream)")


def _check_complete(path: str, container: Any, info: VideoFile) -> None:
    """Seek near the declared end and demand data there: catches truncated MP4 and Matroska files."""
    duration = container.duration / 1_000_000 if container.duration else None
    if not duration or duration < 1.0:
        return
    tail = min(2.0, 0.1 * duration)
    origin = (container.start_time or 0) / 1_000_000
    reached = -math.inf
    try:
        container.seek(int((origin + duration - tail) * 1_000_000), backward=True)
        for packet in container.demux():
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or packet.time_base is None:
                continue
            reached = float(stamp * packet.time_base) - origin
            if reached >= duration - 2 * tail:
                return
    except (av.error.FFmpegError, OSError):
        pass
    data_end = f"data ends near {reached:.1f} s" if math.isfinite(reached) else "its end is missing"
    raise VideoError(f"{path} is truncated: it declares {duration:.1f} s but {data_end}")


def probe_video(path: str | os.PathLike[str], backend: str = "auto") -> VideoInfo:
    """Check a video source and describe it.

    Args:
        path: a video file, a webcam index (``"0"``) or a stream URL (``rtsp://...``).
        backend: ``auto`` (PyAV for files, OpenCV for live sources), ``decord``, ``pyav`` or
            ``opencv``.

    Returns:
        The source's ``VideoInfo``; ``backend`` is the one ``sample_frames`` would use.

    Raises:
        VideoError: the source is missing, not a video, truncated, undecodable, or (with
            ``backend="decord"``) decord cannot read it.
    """
    backend = check_backend(backend)
    if is_live_source(path) or backend == "opencv":
        from vidmem.io.live import LiveSource

        if not is_live_source(path):
            check_file_path(os.fspath(path))
        with LiveSource(path) as source:
            return source.info()
    info = inspect_file(path)
    chosen, n_frames = "pyav", info.n_frames
    if backend == "decord":  # auto decodes files with PyAV (vidmem.io.sampler says why)
        from vidmem.io.decode import decord_suits, open_decord

        reader = open_decord(info.path, required=True) if decord_suits(info) else None
        if reader is not None:
            chosen, n_frames = "decord", len(reader)
            del reader
    return VideoInfo(
        path=info.path,
        duration=info.duration,
        fps=info.fps,
        width=info.width,
        height=info.height,
        n_frames=n_frames,
        backend=chosen,
    )
