"""Restoring keyframe thumbnails that were deleted from a store, from the video they came from.

A keyframe file is named ``<source id>/<clip index>.jpg`` and is the middle sampled frame of that
clip, so it can be made again exactly: the sampler's grid does not depend on where decoding
starts (the same property resume relies on), and the thumbnail encoder is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidmem.memory.visual import encode_thumbnail
from vidmem.memory.writer import write_keyframes
from vidmem.storage.store import MemoryStore


def restore_keyframes(store: MemoryStore, source_id: int, video: Path, config: Any, duration: float | None) -> int:
    """Re-creates the source's missing keyframe files; returns how many were written.

    Args:
        store: the open store.
        source_id: the source whose keyframes to check.
        video: the source's video file (its fingerprint already matched).
        config: the ``IngestConfig`` the source was indexed with (fps, clip length, visual settings).
        duration: the video's duration in seconds, or None.
    """
    from vidmem.io import chunk_clips, sample_frames

    wanted = {_clip_index(name): name for name in store.missing_keyframes(source_id)}
    wanted.pop(None, None)
    if not wanted:
        return 0
    first, last = min(wanted), max(wanted)
    frames = sample_frames(
        str(video), fps=config.fps, start=first * config.clip_seconds, backend=config.backend, max_side=config.max_side
    )
    files: dict[str, bytes] = {}
    for clip in chunk_clips(frames, config.fps, config.clip_seconds, str(video.resolve()), duration):
        if clip.index in wanted and len(clip.frames):
            files[wanted[clip.index]] = encode_thumbnail(clip.frames[len(clip.frames) // 2], config.visual)
        if clip.index >= last:
            break
    write_keyframes(store.root, files)
    return len(files)


def _clip_index(name: str) -> int | None:
    try:
        return int(Path(name).stem)
    except ValueError:
        return None
