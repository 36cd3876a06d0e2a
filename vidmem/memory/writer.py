"""The memory writer: turns encoded clips into entries for every store, resumably.

It owns the builders (episodic windows, keyframes, semantic prototypes, text facts) for one
source and hands back, per batch of clips, exactly what the ingest commits in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidmem.memory.episodic import EpisodicBuilder, EpisodicConfig
from vidmem.memory.facts import TextFactsBuilder
from vidmem.memory.novelty import NoveltyMeter, cosine_distance, unit
from vidmem.memory.semantic import SemanticBuilder, SemanticConfig
from vidmem.memory.visual import KeyframeSelector, VisualConfig, encode_thumbnail
from vidmem.types import Clip, MemoryEntry


@dataclass
class Batch:
    """What one checkpoint writes: new entries, replaced groups, keyframe files."""

    entries: list[MemoryEntry] = field(default_factory=list)
    replaced: dict[tuple[str, str], list[MemoryEntry]] = field(default_factory=dict)
    keyframes: dict[str, bytes] = field(default_factory=dict)


class MemoryWriter:
    """Builds memory entries for one source from clips and their frame vectors.

    Args:
        source_id: the store's id of the source (keyframe files are named by it).
        source: source path or URL, recorded on every entry.
        encoder: "name:version" of the visual encoder.
        dim: visual vector length.
        spans: time-ranged text (subtitles, captions, speech) sorted by start; objects with
            ``t_start``, ``t_end``, ``text``, ``kind`` (and ``words`` for speech).
        ocr: callable reading text from an RGB keyframe, or None to skip on-screen text.
    """

    def __init__(
        self,
        source_id: int,
        source: str,
        encoder: str,
        dim: int,
        episodic: EpisodicConfig,
        visual: VisualConfig,
        semantic: SemanticConfig,
        spans: Sequence = (),
        ocr: Callable[[np.ndarray], str] | None = None,
    ) -> None:
        self.source_id = source_id
        self.source = source
        self.encoder = encoder
        self.visual_config = visual
        self.episodic = EpisodicBuilder(episodic, dim, source, encoder)
        self.semantic = SemanticBuilder(semantic, dim, source, encoder)
        self.keyframes = KeyframeSelector(visual)
        self.facts = TextFactsBuilder(source=source)
        self.novelty = NoveltyMeter()
        self.spans = list(spans)
        self.ocr = ocr
        self.next_span = 0
        self.prev_clip_vec: np.ndarray | None = None
        self.last_keyframe: str | None = None
        self.open_ocr: list | None = None  # [t_start, t_end, text, keyframe it was read from]
        self.condenser = None  # memory tokens (encoders.condenser), set by the ingest when asked for
        self.prev_tokens: np.ndarray | None = None  # float32 [K,D] of the previous clip

    def add_clips(
        self, clips: Sequence[Clip], frame_vectors: Sequence[np.ndarray], details: Sequence | None = None
    ) -> Batch:
        """``frame_vectors[i]`` is ``float32 [T_i,D]`` for ``clips[i].frames``.

        ``details[i]``, when given, holds more frame vectors of clip ``i`` (``vidmem.detail_frames``,
        or None): stored with its frame vectors for image search, left out of everything else.
        """
        batch = Batch()
        for i, (clip, vecs) in enumerate(zip(clips, frame_vectors, strict=True)):
            more = details[i] if details is not None else None
            self._add_clip(clip, vecs, batch, more)
        batch.replaced[("semantic", "")] = self.semantic.entries()
        batch.replaced[("semantic", "fact")] = self.facts.entries()
        return batch

    def _add_clip(self, clip: Clip, vecs: np.ndarray, batch: Batch, details: np.ndarray | None = None) -> None:
        vector = unit(vecs.mean(axis=0))
        stored = vecs if details is None else np.concatenate([vecs, details])
        novel = False
        if self.prev_clip_vec is not None:
            novel = self.novelty.is_novel(cosine_distance(self.prev_clip_vec, vector))
        self.prev_clip_vec = vector
        on_screen = self._keyframe(clip, vecs, batch)  # first, so text starting here points at this keyframe
        texts = self._take_spans(clip, batch) + on_screen
        entry = MemoryEntry(
            store="episodic", scale="clip", t_start=clip.t_start, t_end=clip.t_end, vector=vector,
            keyframe=self.last_keyframe, text=" ".join(dict.fromkeys(t for t in texts if t)),
            source=self.source, encoder=self.encoder, extra={"clips": 1, "index": clip.index, "_frames": stored},
        )  # fmt: skip
        batch.entries.append(entry)
        if self.condenser is not None:
            batch.entries.extend(self._tokens(clip, vecs))
        batch.entries.extend(self.episodic.add(entry, novel))
        self.semantic.add(entry)

    def _tokens(self, clip: Clip, vecs: np.ndarray) -> list[MemoryEntry]:
        """The clip's K memory tokens (``tokens@clip`` entries), conditioned on the previous clip's."""
        self.prev_tokens = self.condenser.condense(vecs, self.prev_tokens)
        return [
            MemoryEntry(store="tokens", scale="clip", t_start=clip.t_start, t_end=clip.t_end, vector=token,
                        source=self.source, encoder=self.encoder, extra={"index": clip.index, "token": k})
            for k, token in enumerate(self.prev_tokens)
        ]  # fmt: skip

    def _take_spans(self, clip: Clip, batch: Batch) -> list[str]:
        """Text spans overlapping the clip; spans starting inside it become text entries."""
        while self.next_span < len(self.spans) and self.spans[self.next_span].t_start < clip.t_end:
            span = self.spans[self.next_span]
            batch.entries.append(self._span_entry(span))
            self.facts.add(span.text, span.t_start, span.t_end)
            self.next_span += 1
        return [s.text for s in self.spans[: self.next_span] if s.t_end > clip.t_start and s.t_start < clip.t_end]

    def _keyframe(self, clip: Clip, vecs: np.ndarray, batch: Batch) -> list[str]:
        mid = len(clip.frames) // 2
        t = float(clip.timestamps[mid]) if len(clip.timestamps) else clip.t_start
        if not self.keyframes.consider(t, vecs[mid]):
            self._extend_ocr(clip)
            return [self.open_ocr[2]] if self.open_ocr else []
        name = f"{self.source_id}/{clip.index:07d}.jpg"
        batch.keyframes[name] = encode_thumbnail(clip.frames[mid], self.visual_config)
        self.last_keyframe = name
        text = self.ocr(clip.frames[mid]) if self.ocr is not None else ""
        batch.entries.append(
            MemoryEntry(
                store="visual",
                scale="",
                t_start=t,
                t_end=t,
                vector=unit(vecs[mid]),
                keyframe=name,
                text=text,
                source=self.source,
                encoder=self.encoder,
            )  # fmt: skip
        )
        self._ocr_seen(clip, text, batch)
        return [text] if text else []

    def _ocr_seen(self, clip: Clip, text: str, batch: Batch) -> None:
        """Keeps one text entry per stretch of identical on-screen text."""
        if self.open_ocr and self.open_ocr[2] == text:
            self.open_ocr[1] = clip.t_end
            return
        self._close_ocr(batch)
        if text:
            self.open_ocr = [clip.t_start, clip.t_end, text, self.last_keyframe]

    def _extend_ocr(self, clip: Clip) -> None:
        if self.open_ocr:
            self.open_ocr[1] = clip.t_end

    def _close_ocr(self, batch: Batch) -> None:
        if self.open_ocr:
            t0, t1, text, keyframe = self.open_ocr
            batch.entries.append(self._text_entry("ocr", t0, t1, text, keyframe))
            self.facts.add(text, t0, t1)
            self.open_ocr = None

    def _span_entry(self, span) -> MemoryEntry:
        """A text entry for a subtitle, caption or speech span; speech keeps its word times."""
        entry = self._text_entry(span.kind, span.t_start, span.t_end, span.text)
        if getattr(span, "words", ()):
            entry.extra["words"] = [list(w) for w in span.words]
        return entry

    def _text_entry(self, kind: str, t0: float, t1: float, text: str, keyframe: str | None = None) -> MemoryEntry:
        return MemoryEntry(
            store="text", scale=kind, t_start=t0, t_end=t1, keyframe=keyframe or self.last_keyframe, text=text,
            source=self.source, encoder="",
        )  # fmt: skip

    def finish(self) -> Batch:
        """End of stream: closes open windows, the open on-screen text and the remaining spans."""
        batch = Batch()
        self._close_ocr(batch)
        batch.entries.extend(self.episodic.flush())
        for span in self.spans[self.next_span :]:
            batch.entries.append(self._span_entry(span))
            self.facts.add(span.text, span.t_start, span.t_end)
        self.next_span = len(self.spans)
        batch.replaced[("semantic", "")] = self.semantic.entries()
        batch.replaced[("semantic", "fact")] = self.facts.entries()
        return batch

    def state(self) -> dict:
        out = {
            "writer": {
                "next_span": self.next_span, "last_kf": self.last_keyframe, "open_ocr": self.open_ocr,
                "novelty": self.novelty.state(),
            },
        }  # fmt: skip
        if self.prev_clip_vec is not None:
            out["writer_prev"] = self.prev_clip_vec
        if self.prev_tokens is not None:
            out["writer_tokens"] = self.prev_tokens
        for part in (self.episodic, self.semantic, self.keyframes, self.facts):
            out.update(part.state())
        return out

    def load_state(self, state: dict) -> None:
        meta = state["writer"]
        self.next_span, self.last_keyframe, self.open_ocr = (
            meta["next_span"],
            meta["last_kf"],
            meta["open_ocr"],
        )
        self.novelty.load(meta["novelty"])
        self.prev_clip_vec = state.get("writer_prev")
        self.prev_tokens = state.get("writer_tokens")
        for part in (self.episodic, self.semantic, self.keyframes, self.facts):
            part.load_state(state)


def write_keyframes(root: Path, files: dict[str, bytes]) -> None:
    """Writes keyframe JPEGs under ``root/keyframes`` (before the transaction that names them)."""
    for name, data in files.items():
        path = root / "keyframes" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
