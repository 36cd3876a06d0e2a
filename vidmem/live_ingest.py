"""Live ingest: a camera, a stream or frames pushed by a program, written to memory as they arrive.

The same pipeline as ``index_video`` (sampler grid, clips, encoder, memory writer, checkpoints,
clip-budget consolidation), fed by a ``LiveSource`` and committed clip by clip, so readers see the
memory grow within a clip's length. A live source is identified by its name: ingesting the same
name into the same store again continues its memory where it stopped (times carry on from the
last committed clip). Memory held in RAM is bounded: clips are consolidated within ``clip_budget``
as in ``index_video``, and frames are dropped once encoded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vidmem.errors import StoreError
from vidmem.ingest import IngestConfig, _keypoint_writer, _ocr_reader, _Run, _TextVectors, store_encoder
from vidmem.io.live import LiveSource
from vidmem.io.sampler import SampledFrame, chunk_clips, sample_frames
from vidmem.memory.writer import MemoryWriter
from vidmem.process_memory import bound_heap_growth
from vidmem.storage.lock import source_lock
from vidmem.storage.store import MemoryStore


@dataclass(frozen=True)
class LiveConfig:
    """How a live source becomes memory.

    Attributes:
        fps: frames sampled per second of stream time.
        clip_seconds: clip length (one checkpoint per ``commit_every`` clips).
        encoder: visual encoder name or preset.
        ocr: read on-screen text from keyframes.
        clip_budget: clip entries kept per source; similar neighbours merge beyond it.
        commit_every: clips per checkpoint (1: memory is readable one clip after it is seen).
        max_side: frames are downscaled so their longer side is at most this (pixels).
    """

    fps: float = 1.0
    clip_seconds: float = 2.0
    encoder: str = "classical"
    ocr: bool = True
    clip_budget: int = 20_000
    commit_every: int = 1
    max_side: int = 640

    def __post_init__(self) -> None:
        self.ingest()  # the pipeline's own checks (fps range, whole frames per clip, budget)

    def ingest(self) -> IngestConfig:
        """The ``IngestConfig`` the pipeline runs with (no speech or subtitle files on a live source)."""
        return IngestConfig(
            fps=self.fps, clip_seconds=self.clip_seconds, encoder=self.encoder, ocr=self.ocr, speech=False,
            auto_subtitles=False, embedded_subtitles=False, commit_every=self.commit_every,
            clip_budget=self.clip_budget, max_side=self.max_side,
        )  # fmt: skip


@dataclass
class LiveStats:
    """Progress of a live ingest, read by other threads (each field is replaced atomically)."""

    frames: int = 0
    clips: int = 0
    stream_time: float = 0.0
    started: float = field(default_factory=time.monotonic)
    recent: deque = field(default_factory=lambda: deque(maxlen=64))  # monotonic times of recent samples

    def sampled(self, t: float) -> None:
        self.frames += 1
        self.stream_time = t
        self.recent.append(time.monotonic())

    def frames_per_s(self) -> float:
        """Frames sampled per second of wall time over the recent samples."""
        times = list(self.recent)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


def live_identity(name: str) -> str:
    """A live source's identity in the store (hex, so it can name a lock file)."""
    return hashlib.sha1(f"live:{name}".encode()).hexdigest()


def ingest_live(
    source: LiveSource, store_dir: str, config: LiveConfig | None = None, stats: LiveStats | None = None
) -> int:
    """Writes ``source`` into the store at ``store_dir`` (created when missing) until the source ends.

    Stop it by making the source end (its capture's ``read`` returning no frame). Returns the
    number of the next clip (what a later call with the same source name continues from).

    Raises:
        StoreError: the store holds this source with other settings, or is not a store.
        SourceBusyError: another process is writing this source now.
    """
    config = config or LiveConfig()
    stats = stats or LiveStats()
    bound_heap_growth()  # a live source runs for hours: keep its heap from ratcheting up
    ingest = config.ingest()
    identity = live_identity(source.name)
    with MemoryStore(store_dir, create=True) as store, source_lock(store.root, identity, source.name):
        encoder = store_encoder(store, ingest.encoder)
        encoder_id = f"{encoder.name}:{encoder.version}"
        settings = json.loads(json.dumps(ingest.settings(encoder_id)))
        src = store.find_source(identity)
        if src is not None and src.settings != settings:
            raise StoreError(f"{source.name} is already in {store_dir} with other settings; use another store")
        if src is None:
            with store.transaction():
                source_id = store.add_source(source.name, identity, None, settings)
        else:
            source_id = src.id
        writer = MemoryWriter(
            source_id, source.name, encoder_id, encoder.dim, ingest.episodic, ingest.visual, ingest.semantic,
            (), _ocr_reader(ingest),
        )  # fmt: skip
        start_clip = 0
        if src is not None and src.state is not None:
            writer.load_state(src.state)
            start_clip = src.next_clip
        run = _Run(store, source_id, writer, ingest, _TextVectors(store, ingest.text_encoder))
        run.keypoints = _keypoint_writer(ingest, store)
        per_clip = max(1, round(ingest.clip_seconds * ingest.fps))
        frames = _continued(
            sample_frames(source, fps=ingest.fps, max_side=ingest.max_side), start_clip * per_clip, ingest.fps, stats
        )
        clips = _counted(chunk_clips(frames, ingest.fps, ingest.clip_seconds, source.name), stats)
        next_clip = run.consume(clips, encoder, start_clip, None, False)
        run.finish(next_clip)
        return next_clip


def _continued(frames: Iterable[SampledFrame], k_offset: int, fps: float, stats: LiveStats) -> Iterator[SampledFrame]:
    """Grid samples moved ``k_offset`` steps on, so a continued source's times follow its last clip."""
    offset = k_offset / fps
    for f in frames:
        k = f.k + k_offset
        stats.sampled(k / fps)
        yield SampledFrame(k, k / fps, f.pts + offset, f.image)


def _counted(clips: Iterable, stats: LiveStats) -> Iterator:
    for clip in clips:
        stats.clips += 1
        yield clip
