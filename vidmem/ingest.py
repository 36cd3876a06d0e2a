"""Ingest: video -> sampler -> clips -> encoder -> memory writer -> store, resumable.

Every ``commit_every`` clips the new entries, keyframes and the writer's state are committed in
one SQLite transaction, so an ingest killed at any moment resumes from its last checkpoint and
ends with the same store an uninterrupted run would have built.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidmem.detail_frames import DetailFrames, detail_ratio, detail_splitter
from vidmem.errors import StoreError, VidmemError
from vidmem.iterate import batched as _batched
from vidmem.iterate import prefetch
from vidmem.memory.consolidate import plan_merges
from vidmem.memory.episodic import EpisodicConfig
from vidmem.memory.novelty import unit
from vidmem.memory.semantic import SemanticConfig
from vidmem.memory.visual import VisualConfig
from vidmem.memory.writer import Batch, MemoryWriter, write_keyframes
from vidmem.process_memory import bound_heap_growth, release_freed_memory
from vidmem.repair import restore_keyframes
from vidmem.storage.lock import source_lock
from vidmem.storage.store import MemoryStore
from vidmem.types import MemoryEntry


@dataclass(frozen=True)
class IngestConfig:
    """How a video becomes memory.

    Attributes:
        fps: frames sampled per second of video.
        clip_seconds: clip length; the finest episodic scale.
        encoder: visual encoder name, preset or YAML path (``classical``, ``tiny``, ``clip-b32``).
        text_encoder: text encoder preset for subtitles, captions and on-screen text.
        commit_every: clips per checkpoint transaction.
        clip_budget: clip entries kept per source; beyond it similar neighbours merge.
        ocr: read on-screen text from keyframes.
        speech: transcribe the audio track, when there is one, into ``text@speech`` memories
            (subtitles given for the same time take precedence).
        subtitles: SRT/VTT files; ``auto_subtitles`` also finds ``<stem>.srt/.vtt`` beside the video.
        captions: a caption JSON file (seconds or ``"start_end"`` frame keys).
        embedded_subtitles: read subtitle streams inside the container.
        max_side: frames are downscaled so their longer side is at most this (pixels).
        backend: ``auto``, ``decord`` or ``pyav``.
        keypoints: keep ORB keypoints of one frame per clip, so image queries survive crops and
            borders (about 6 MB per video-hour; ``vidmem.agent.image_search``).
        detail_fps: also look at frames this often and keep the vectors of those that differ from
            the last kept one (fast footage; ``vidmem.detail_frames``); 0 turns it off; None: 5 fps
            for the classical descriptor, off for learned encoders (a frame costs them ~100x more).
    """

    fps: float = 1.0
    clip_seconds: float = 2.0
    encoder: str = "classical"
    text_encoder: str = "minilm"
    episodic: EpisodicConfig = field(default_factory=EpisodicConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    commit_every: int = 16
    clip_budget: int = 20_000
    ocr: bool = True
    speech: bool = True
    subtitles: tuple[str, ...] = ()
    captions: str | None = None
    auto_subtitles: bool = True
    embedded_subtitles: bool = True
    max_side: int = 640
    backend: str = "auto"
    keypoints: bool = True
    detail_fps: float | None = None
    tokens: str | None = None  # memory-token condenser (``kmeans``, a ``.pt`` checkpoint); None: no tokens

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 60:
            raise ValueError(f"fps must be in (0, 60], got {self.fps}")
        if (
            self.clip_seconds * self.fps < 1
            or abs(round(self.clip_seconds * self.fps) - self.clip_seconds * self.fps) > 1e-6
        ):
            raise ValueError("clip_seconds * fps must be a whole number of frames >= 1")
        if self.detail_fps is not None:
            detail_ratio(self.detail_fps, self.fps)  # raises on a rate that is not a multiple of fps
        if self.commit_every < 1 or self.clip_budget < 10:
            raise ValueError("commit_every must be >= 1 and clip_budget >= 10")

    def settings(self, encoder_id: str) -> dict[str, Any]:
        """What must match for a resume to continue the same memory."""
        return {
            "fps": self.fps, "clip_seconds": self.clip_seconds, "encoder": encoder_id,
            "episodic": asdict(self.episodic), "visual": asdict(self.visual), "semantic": asdict(self.semantic),
            "commit_every": self.commit_every, "ocr": self.ocr, "speech": self.speech, "max_side": self.max_side,
            "keypoints": self.keypoints, **({"tokens": self.tokens} if self.tokens else {}),
        }  # fmt: skip


@dataclass
class IngestReport:
    """What an ingest did."""

    video: str
    store: str
    source_id: int
    status: str  # "indexed", "resumed", "already indexed"
    clips: int
    new_clips: int
    seconds: float
    entries: dict[str, int]
    restored_keyframes: int = 0  # keyframe files found missing and made again from the video

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(path: Path) -> str:
    """Content identity of a file: size plus hashes of its first and last megabyte."""
    size = path.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), 2)
            h.update(f.read())
    return h.hexdigest()


def index_video(
    video: str | Path, store_dir: str | Path, config: IngestConfig | None = None, progress: bool = False,
    reindex: bool = False, encoder: Any = None, build_indexes: bool = True,
) -> IngestReport:  # fmt: skip
    """Indexes one video file into a store (created when missing), resuming a partial ingest.

    Bad input raises a ``VidmemError`` before the store is touched. ``build_indexes=False`` leaves
    the vector indexes stale (the next use rebuilds them): a collection run builds them once at
    its end instead of once per video, which made a long run's cost quadratic in its size.
    """
    from encoders import ENCODERS, TEXT_ENCODERS, text_encoder_spec
    from encoders.condenser import build_condenser
    from vidmem.io import probe_video

    bound_heap_growth()  # before any model or frame buffer is allocated: peak RSS flat in video length
    config = config or IngestConfig()
    condenser = build_condenser(config.tokens) if config.tokens else None  # a bad spec fails before the store
    if encoder is None:
        ENCODERS.resolve_config(config.encoder)  # an unknown name fails before any work
    preset, fields = text_encoder_spec(config.text_encoder)
    TEXT_ENCODERS.resolve_config(preset, **fields)
    path = Path(video)
    info = probe_video(str(path), backend=config.backend)
    spans = load_text_spans(path, config, info.fps, info.duration)
    ocr = _ocr_reader(config)
    started = time.perf_counter()
    with MemoryStore(store_dir, create=True) as store, contextlib.ExitStack() as held:
        encoder = encoder or store_encoder(store, config.encoder)
        encoder_id = f"{encoder.name}:{encoder.version}"
        settings = json.loads(json.dumps(config.settings(encoder_id)))  # as stored: tuples become lists
        identity = fingerprint(path)
        held.enter_context(source_lock(store.root, identity, str(path)))  # one writer per source
        src = store.find_source(identity)
        if src is not None and (reindex or src.settings != settings):
            if not reindex:
                raise StoreError(
                    f"{path.name} is already in {store_dir} with other settings; pass --reindex to rebuild it"
                )
            store.delete_source(src.id)
            src = None
        if src is not None and src.status == "complete":
            restored = restore_keyframes(store, src.id, path, config, info.duration)
            return _report(store, path, src.id, "already indexed", src.next_clip, 0, started, restored)
        source_id = src.id if src else store.add_source(str(path.resolve()), identity, info.duration, settings)
        if config.speech:
            resume = src is not None
            spans = with_speech(spans, store, source_id, path, resume, info.duration, progress=progress)
        writer = MemoryWriter(
            source_id, str(path.resolve()), encoder_id, encoder.dim, config.episodic, config.visual,
            config.semantic, spans, ocr,
        )  # fmt: skip
        writer.condenser = condenser
        start_clip = 0
        if src is not None and src.state is not None:
            writer.load_state(src.state)
            start_clip = src.next_clip
        run = _Run(store, source_id, writer, config, _TextVectors(store, config.text_encoder))
        run.keypoints = _keypoint_writer(config, store)
        total = max(1, int(np.ceil(info.duration / config.clip_seconds))) if info.duration else None
        run.details = detail_splitter(encoder, config.detail_fps, config.fps, config.clip_seconds)
        clips = _clips(path, config, info.duration, start_clip, run.details)
        next_clip = run.consume(clips, encoder, start_clip, total, progress)
        run.finish(next_clip, build_indexes)
        restored = restore_keyframes(store, source_id, path, config, info.duration)  # lost before a resume
        status = "resumed" if start_clip else "indexed"
        return _report(store, path, source_id, status, next_clip, next_clip - start_clip, started, restored)


def _clips(
    path: Path, config: IngestConfig, duration: float | None, start_clip: int, details: DetailFrames | None = None
) -> Iterator:
    from vidmem.io import chunk_clips, sample_frames

    ratio = details.ratio if details is not None else 1
    frames = sample_frames(
        str(path), fps=config.fps * ratio, start=start_clip * config.clip_seconds, backend=config.backend,
        max_side=config.max_side,
    )  # fmt: skip
    if details is not None:
        frames = details.grid(frames)
    return prefetch(chunk_clips(frames, config.fps, config.clip_seconds, str(path.resolve()), duration), depth=8)


class _Run:
    """One ingest's loop: batches of clips in, checkpoints out."""

    keypoints = None  # a KeypointWriter when the ingest keeps local features
    details: DetailFrames | None = None  # detail-frame vectors kept aside per clip

    def __init__(self, store: MemoryStore, source_id: int, writer: MemoryWriter, config: IngestConfig, text) -> None:
        self.store, self.source_id, self.writer, self.config, self.text = (
            store,
            source_id,
            writer,
            config,
            text,
        )

    def consume(self, clips: Iterable, encoder: Any, next_clip: int, total: int | None, progress: bool) -> int:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=next_clip, unit="clip", disable=not progress, leave=False, dynamic_ncols=True)
        try:
            for group in _batched(clips, self.config.commit_every):
                frames = np.concatenate([c.frames for c in group])
                vecs = encoder.encode_images(frames)
                bounds = np.cumsum([0] + [len(c.frames) for c in group])
                per_clip = [vecs[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
                more = [self.details.take(c.index) for c in group] if self.details is not None else None
                batch = self.writer.add_clips(group, per_clip, more)
                if self.keypoints is not None:
                    self.keypoints.add(group)
                next_clip = group[-1].index + 1
                self._commit(batch, next_clip, "partial")
                bar.update(len(group))
        finally:
            bar.close()
        return next_clip

    def finish(self, next_clip: int, build_indexes: bool = True) -> None:
        self._commit(self.writer.finish(), next_clip, "complete")
        self.store.release_free_pages()  # what replaced groups freed at each checkpoint
        self.store.refresh_indexes()
        if not build_indexes:
            return
        for store_name, scale, _ in self.store.groups():
            self.store.index(f"{store_name}@{scale}" if scale else store_name)
        self.store.index("text-space")

    def _commit(self, batch: Batch, next_clip: int, status: str) -> None:
        self.text.attach(batch.entries + [e for group in batch.replaced.values() for e in group])
        write_keyframes(self.store.root, batch.keyframes)
        with self.store.transaction():
            self.store.insert_entries(self.source_id, batch.entries)
            for (store_name, scale), entries in batch.replaced.items():
                self.store.replace_entries(self.source_id, store_name, scale, entries)
            budget = self.config.clip_budget
            slack = 0 if status == "complete" else max(1, budget // 10)
            if self.store.count("episodic", "clip", self.source_id) > budget + slack:
                self._consolidate()
            if self.keypoints is not None:
                self.keypoints.flush(self.store.db, self.source_id)
            self.store.save_progress(self.source_id, next_clip, self.writer.state(), status)
        release_freed_memory()  # OCR/text buffers of this checkpoint: keeps peak RSS flat in video length

    def _consolidate(self) -> None:
        """Merges the most similar neighbouring clips until the source is within its clip budget.

        Runs inside the checkpoint's transaction, so memory stays bounded by the budget (not by the
        video's length) and a resumed ingest consolidates at the same checkpoints.
        """
        ids = self.store.select_ids("episodic", "clip", source_id=self.source_id)
        entries = self.store.get_entries(ids)
        frames = self.store.frame_vectors(ids)
        vecs = np.stack([e.vector for e in entries])
        weights = np.array([e.extra.get("clips", 1) for e in entries], np.float64)
        merged = [
            _merge_clips([entries[i] for i in group], vecs[group], weights[group], frames)
            for group in plan_merges(vecs, weights, self.config.clip_budget)
        ]
        self.text.attach(merged)
        self.store.replace_entries(self.source_id, "episodic", "clip", merged)


MERGED_FRAMES = 8
"""Frame vectors a merged clip keeps (evenly spread), for re-ranking image queries."""


def _merge_clips(members: list[MemoryEntry], vecs: np.ndarray, weights: np.ndarray, frames: dict) -> MemoryEntry:
    """One clip entry standing for consecutive ``members``: weighted mean vector, union of times and words."""
    first = members[0]
    stacked = [frames[m.id] for m in members if m.id in frames]
    extra: dict[str, Any] = {"clips": int(weights.sum())}
    if stacked:
        all_frames = np.concatenate(stacked)
        keep = np.linspace(0, len(all_frames) - 1, min(MERGED_FRAMES, len(all_frames))).round().astype(int)
        extra["_frames"] = all_frames[keep]
    return MemoryEntry(
        store="episodic", scale="clip", t_start=first.t_start, t_end=members[-1].t_end,
        vector=unit((vecs * weights[:, None]).sum(0)), keyframe=first.keyframe,
        text=" ".join(dict.fromkeys(m.text for m in members if m.text)), source=first.source,
        encoder=first.encoder, extra=extra,
    )  # fmt: skip


TEXT_CACHE_SIZE = 20_000
"""Text vectors kept between checkpoints (a repeated subtitle or fact is encoded once); ~30 MB."""


class _TextVectors:
    """Text-encoder vectors for entries with text; loads the model only when text exists.

    A text's vector never depends on what else is encoded with it (see :func:`stable_text_vectors`),
    so a resumed ingest, whose cache starts empty, writes bit-identical vectors.
    """

    def __init__(self, store: MemoryStore, spec: str) -> None:
        self.store = store
        self.spec = spec
        self.model = None
        self.cache: dict[str, np.ndarray] = {}

    def attach(self, entries: list[MemoryEntry]) -> None:
        todo = sorted({e.text for e in entries if e.text and e.text not in self.cache})
        fresh: dict[str, np.ndarray] = {}
        if todo:
            if self.model is None:
                self.model = store_text_encoder(self.store, self.spec)
            fresh = dict(zip(todo, stable_text_vectors(self.model, todo), strict=True))
        for e in entries:
            if e.text:
                e.extra["_tvector"] = fresh[e.text] if e.text in fresh else self.cache[e.text]
        self.cache.update(fresh)  # evicted only after this checkpoint's entries have their vectors
        if len(self.cache) > TEXT_CACHE_SIZE:
            self.cache = dict(itertools.islice(self.cache.items(), len(self.cache) - TEXT_CACHE_SIZE // 2, None))


STABLE_BATCH = 32


def stable_text_vectors(model: Any, texts: list[str]) -> np.ndarray:
    """``float32 [N,D]`` text vectors that do not depend on how ``texts`` are grouped.

    Padding a batch to its longest text changes the others' vectors in the last bits, so texts are
    encoded in batches of equal token count (no padding) of at least two rows (a single row takes
    another numeric path); an encoder that cannot count tokens encodes each text alone.
    """
    counts = model.token_counts(texts) if hasattr(model, "token_counts") else None
    if counts is None:
        return np.concatenate([model.encode_text([t]) for t in texts])
    out: list[np.ndarray | None] = [None] * len(texts)
    by_count: dict[int, list[int]] = {}
    for i, n in enumerate(counts):
        by_count.setdefault(n, []).append(i)
    for members in by_count.values():
        for chunk in _batched(members, STABLE_BATCH):
            rows = [texts[i] for i in chunk]
            vecs = model.encode_text(rows if len(rows) > 1 else rows * 2)
            for i, vec in zip(chunk, vecs, strict=False):
                out[i] = vec
    return np.stack(out)


def store_encoder(store: MemoryStore, spec: str):
    """The store's encoder: the one it was built with, or ``spec`` for a new store."""
    from encoders import build_encoder

    recorded = store.get_meta("encoder")
    if recorded is not None and spec not in (recorded["spec"], recorded["name"]):
        raise StoreError(
            f"store {store.root} was built with encoder {recorded['name']!r}; index into another store to use {spec!r}"
        )
    encoder = build_encoder(recorded["spec"] if recorded else spec)
    if recorded is None:
        store.set_meta("encoder", {"spec": spec, "name": encoder.name, "version": encoder.version, "dim": encoder.dim})
    elif recorded.get("version") != encoder.version and getattr(encoder.config, "crop_borders", False):
        # a classical store written before border removal: keep describing frames as it did
        older = build_encoder(recorded["spec"], crop_borders=False)
        encoder = older if older.version == recorded.get("version") else encoder
    return encoder


def store_text_encoder(store: MemoryStore, spec: str | None = None):
    """The store's text encoder (recorded at first use); ``spec`` names it for a new store."""
    from encoders import build_text_encoder

    recorded = store.get_meta("text_encoder")
    if recorded is not None and spec is not None and spec not in (recorded["spec"], recorded["name"]):
        raise StoreError(f"store {store.root} holds text vectors of {recorded['name']!r}, not {spec!r}")
    if recorded is None and spec is None:
        return None
    model = build_text_encoder(recorded["spec"] if recorded else spec)
    if recorded is None:
        store.set_meta("text_encoder", {"spec": spec, "name": model.name, "version": model.version, "dim": model.dim})
    return model


def load_text_spans(path: Path, config: IngestConfig, fps: float | None, duration: float | None) -> list:
    """Subtitles (given, beside the video, inside it) and captions, validated and sorted."""
    from vidmem.text import (
        find_sidecar_subtitles,
        read_captions_json,
        read_embedded_subtitles,
        read_subtitles,
        validate_spans,
    )

    files = [Path(p) for p in config.subtitles]
    if config.auto_subtitles and not files:
        files = find_sidecar_subtitles(path)
    spans = []
    for f in files:
        if not f.is_file():
            raise VidmemError(f"subtitle file not found: {f}")
        spans += read_subtitles(f, duration=duration, fps=fps)
    if config.embedded_subtitles and not config.subtitles:
        spans += validate_spans(read_embedded_subtitles(path), duration, f"{path.name} (embedded)")
    if config.captions:
        cap = Path(config.captions)
        if not cap.is_file():
            raise VidmemError(f"caption file not found: {cap}")
        spans += read_captions_json(cap, fps, duration=duration)
    return sorted(spans, key=lambda s: (s.t_start, s.t_end))


def with_speech(
    spans: list, store: MemoryStore, source_id: int, path: Path, resume: bool, duration: float | None = None,
    progress: bool = False,
) -> list:  # fmt: skip
    """``spans`` plus the video's speech, except where subtitles already cover it; time order.

    The transcript is kept in the store's meta (``speech:<source id>``) piece by piece, so a
    killed ingest resumes its transcription and a resumed clip loop sees the very same spans.
    """
    from vidmem.text import validate_spans
    from vidmem.text.speech import drop_covered, transcribe_video

    key = f"speech:{source_id}"

    def save(state: dict) -> None:
        with store.transaction():
            store.set_meta(key, state)

    # A new source may reuse a deleted one's id: only a resumed source's saved transcript is its own.
    state = store.get_meta(key) if resume else None
    if state is None:
        save({"done": 0.0, "complete": False, "spans": []})
    # an audio track longer than the picture: speech after the video's end is dropped (warned)
    speech = validate_spans(transcribe_video(path, state=state, save=save, progress=progress), duration, path.name)
    subtitles = [s for s in spans if s.kind == "subtitle"]
    return sorted(spans + drop_covered(speech, subtitles), key=lambda s: (s.t_start, s.t_end))


def _keypoint_writer(config: IngestConfig, store: MemoryStore):
    if not config.keypoints:
        return None
    from encoders.local_features import LocalFeatureConfig, LocalFeatures
    from vidmem.memory.keypoints import KeypointWriter
    from vidmem.storage.local_features import recorded_channel

    return KeypointWriter(LocalFeatures(LocalFeatureConfig(channel=recorded_channel(store.db))))


def _ocr_reader(config: IngestConfig):
    if not config.ocr:
        return None
    from vidmem.text.ocr import OCRConfig, RapidOCRReader

    engine = RapidOCRReader(OCRConfig())
    engine.check_available()  # the process's one engine; a missing rapidocr fails before the store is touched
    return engine.read_text


def _report(
    store: MemoryStore, path: Path, source_id: int, status: str, clips: int, new: int, t0: float, restored: int = 0
) -> IngestReport:
    entries = {f"{s}@{sc}" if sc else s: n for s, sc, n in store.groups()}
    seconds = time.perf_counter() - t0
    return IngestReport(str(path), str(store.root), source_id, status, clips, new, seconds, entries, restored)
