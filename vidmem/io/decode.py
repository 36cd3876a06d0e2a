"""Decoding files: PyAV sequential decoding with error recovery, the packet index, decord batches.

The frame chosen for a sampling time depends only on frame timestamps, so every path here reports
exact container timestamps (``pts x time_base`` minus the stream start) as float seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from vidmem.errors import VideoError
from vidmem.io.damage import DamageTracker
from vidmem.io.sources import VideoFile, one_line, video_stream

TIME_EPS = 1e-6  # a frame within 1 us after a sampling time counts as showing at that time
_SEEK_MARGINS = (1.0, 4.0, 16.0, 64.0)  # seconds before the resume time to seek to, tried in turn
_MAX_DEMUX_ERRORS = 200
_DECORD_BATCH_BYTES = 64 * 1024 * 1024
DECORD_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "flv"})


@dataclass
class DecodedFrame:
    """A good frame from PyAV.

    Attributes:
        t: stream time, seconds.
        frame: the ``av.VideoFrame`` (converted to RGB only if sampled).
        lost_before: True when the gap before it was judged lost data.
        typical_interval: median seconds between recent frames.
    """

    t: float
    frame: Any
    lost_before: bool = False
    typical_interval: float = 0.0

    @property
    def duration(self) -> float:
        """Display duration in seconds from the container, 0.0 when it does not say."""
        duration, time_base = getattr(self.frame, "duration", None), self.frame.time_base
        return float(duration * time_base) if duration and time_base else 0.0


def _open_stream(path: str) -> tuple[Any, Any]:
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as exc:  # the file changed since it was checked
        raise VideoError(f"{path}: cannot reopen the video ({one_line(exc, 80)})") from exc
    stream = video_stream(container)
    if stream is None:
        container.close()
        raise VideoError(f"{path} has no video stream")
    stream.thread_type = "AUTO"
    return container, stream


def pyav_frames(video: VideoFile, t0: float, report: Callable[[float, float, str], None]) -> Iterator[DecodedFrame]:
    """Good frames in time order, starting at or before ``t0`` (sequential decoding).

    Seeks to a keyframe before ``t0`` and checks that the first frame decoded is at or before
    ``t0``; when a seek overshoots, seeks further back, finally decoding from the start. Frames
    before ``t0`` are still yielded (the sampler needs the one showing at ``t0``).

    Args:
        video: the checked file.
        t0: the first sampling time, seconds.
        report: called as ``report(t0, t1, kind)`` for each damaged stretch (see ``DamageTracker``).
    """
    for margin in (*_SEEK_MARGINS, None):
        target = None if margin is None else t0 - margin
        seeking = target is not None and target > video.first_time
        if margin is not None and not seeking:
            continue
        container, stream = _open_stream(video.path)
        tracker = DamageTracker(report, 1 / video.fps if video.fps else 0.0)
        try:
            if seeking and not _seek(container, stream, video, target):
                continue
            frames = _decode(container, stream, video, tracker)
            first = next(frames, None)
            if seeking and (first is None or first.t > t0 + TIME_EPS):
                continue
            if first is not None:
                yield first
                yield from frames
            tracker.finish()
            return
        finally:
            container.close()


def _seek(container: Any, stream: Any, video: VideoFile, t: float) -> bool:
    """Seek to a keyframe at or before ``t`` seconds; False when the demuxer cannot seek."""
    try:
        container.seek(int(t / video.time_base) + video.start_pts, stream=stream, backward=True)
    except (av.error.FFmpegError, OSError):
        return False
    return True


def _decode(container: Any, stream: Any, video: VideoFile, tracker: DamageTracker) -> Iterator[DecodedFrame]:
    """Decode packet by packet so one bad packet does not end the stream."""
    prev_t: float | None = None
    for packet in _packets(container, stream, video, tracker):
        try:
            decoded = stream.decode(packet)
        except av.error.FFmpegError:
            tracker.error(_packet_time(packet, video))
            continue
        for frame in decoded:
            if frame.is_corrupt:
                tracker.error(video.seconds(frame.pts) if frame.pts is not None else None)
                continue
            if frame.pts is not None:
                t = video.seconds(frame.pts)
            elif prev_t is not None:
                t = prev_t + (tracker.typical_interval or 1 / (video.fps or 25.0))
            else:
                t = video.first_time
            if prev_t is not None and t <= prev_t + TIME_EPS:
                continue  # a repeated or backwards timestamp: the earlier frame stands
            lost = tracker.frame(t)
            prev_t = t
            yield DecodedFrame(t, frame, lost, tracker.typical_interval)


def _packets(container: Any, stream: Any, video: VideoFile, tracker: DamageTracker) -> Iterator[Any]:
    """Demux the video stream, resuming after demuxer errors (a dead generator is replaced)."""
    errors = 0
    while True:
        try:
            for packet in container.demux(stream):
                if packet.is_corrupt:
                    tracker.error(_packet_time(packet, video))
                yield packet
            return
        except (av.error.FFmpegError, OSError):
            tracker.error(None)
            errors += 1
            if errors > _MAX_DEMUX_ERRORS:
                return


def _packet_time(packet: Any, video: VideoFile) -> float | None:
    stamp = packet.pts if packet.pts is not None else packet.dts
    return video.seconds(stamp) if stamp is not None else None


@dataclass
class FrameIndex:
    """Every frame's time from a demux pass (no decoding).

    Attributes:
        times: ``float64 [N]`` frame times in seconds, sorted (presentation order).
        last_duration: display duration of the last frame, seconds (0.0 when unknown).
        errors: times of corrupt packets or demuxer errors (None where unknown), in file order,
            each paired with the number of frames indexed before it.
    """

    times: np.ndarray
    last_duration: float = 0.0
    errors: list[tuple[int, float | None]] = field(default_factory=list)


def build_index(video: VideoFile) -> FrameIndex:
    """Demux the whole video stream once and list its frame times (exact, from the container)."""
    container, stream = _open_stream(video.path)
    stamps: list[int] = []
    last_pts, last_duration = None, 0
    errors: list[tuple[int, float | None]] = []
    demux_errors = 0
    try:
        while demux_errors <= _MAX_DEMUX_ERRORS:
            try:
                for packet in container.demux(stream):
                    if packet.pts is None:
                        continue
                    if packet.is_corrupt:
                        errors.append((len(stamps), video.seconds(packet.pts)))
                    stamps.append(packet.pts)
                    if last_pts is None or packet.pts > last_pts:
                        last_pts, last_duration = packet.pts, packet.duration or 0
                break
            except (av.error.FFmpegError, OSError):
                demux_errors += 1
                errors.append((len(stamps), None))
    finally:
        container.close()
    unique = np.unique(np.asarray(stamps, dtype=np.int64))
    # integer numerator / denominator: correctly rounded, so equal to VideoFile.seconds (and PyAV's path)
    numerators = (unique - video.start_pts) * video.time_base.numerator
    times = numerators.astype(np.float64) / float(video.time_base.denominator)
    return FrameIndex(times=times, last_duration=float(last_duration * video.time_base), errors=errors)


def index_damage(index: FrameIndex, tracker: DamageTracker) -> list[tuple[float, float]]:
    """Run the damage tracker over an index; returns the gaps judged lost, ``(t0, t1)`` each.

    Errors are replayed at the frame count where the demuxer met them, so a flagged packet and the
    jump in timestamps after it are matched as in a decoding pass.
    """
    lost: list[tuple[float, float]] = []
    errors = iter(index.errors)
    upcoming = next(errors, None)
    prev: float | None = None
    for count, t in enumerate(index.times.tolist()):
        while upcoming is not None and upcoming[0] <= count:
            tracker.error(upcoming[1])
            upcoming = next(errors, None)
        if tracker.frame(t) and prev is not None:
            lost.append((prev, t))
        prev = t
    while upcoming is not None:
        tracker.error(upcoming[1])
        upcoming = next(errors, None)
    tracker.finish()
    return lost


def decord_suits(video: VideoFile) -> bool:
    """True for containers with a frame index that decord seeks in reliably.

    decord 0.6 seeks by timestamp and can loop forever in MPEG-TS files (seen with B-frames and a
    non-zero start time), so streams without an index are left to PyAV's sequential decoding.
    """
    return bool(set(video.format_name.split(",")) & DECORD_FORMATS)


def open_decord(path: str, required: bool = False) -> Any | None:
    """A ``decord.VideoReader`` for ``path``, or None when decord cannot read it.

    Args:
        path: a file that passed ``inspect_file``.
        required: raise ``VideoError`` instead of returning None.
    """
    try:
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        return decord.VideoReader(path, num_threads=0)
    except Exception as exc:  # decord raises DECORDError, RuntimeError or AssertionError
        if required:
            raise VideoError(f"{path}: decord cannot read this file ({one_line(exc, 100)})") from exc
        return None


def decord_index_matches(reader: Any, index: FrameIndex) -> bool:
    """True when decord's frame table lists the same frames as the container index.

    decord reports ``float32`` timestamps (about 0.2 ms resolution at one hour), so frames are
    matched within 1 ms and the exact container times are used for sampling.
    """
    n = len(reader)
    if n != len(index.times) or n == 0:
        return False
    starts = np.asarray(reader.get_frame_timestamp(np.arange(n)), dtype=np.float64)[:, 0]
    return bool(np.abs(starts - index.times).max() < 1e-3)


def decord_batch_size(width: int, height: int) -> int:
    """Frames per ``get_batch`` call: up to 16, keeping one batch under 64 MiB."""
    return int(np.clip(_DECORD_BATCH_BYTES // max(1, width * height * 3), 1, 16))


def decord_read(reader: Any, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode frames by index with decord. ``{index: uint8 [H,W,3] RGB}``; raises on decord errors."""
    unique = sorted(set(indices))
    batch = reader.get_batch(unique).asnumpy()
    return {i: batch[n] for n, i in enumerate(unique)}
