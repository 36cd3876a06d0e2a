"""Giving freed heap back to the operating system between ingest checkpoints.

The OCR and text models run onnxruntime without its memory arena, so every frame's buffers are
malloc'd and freed; glibc keeps freed heap pages mapped, and the process's resident size ratchets
up to the worst frame's peak plus fragmentation. ``malloc_trim`` returns those pages (measured on a
3-minute 640x360 default ingest: peak RSS 1265 MB without, 995 MB with). Elsewhere (musl, macOS)
this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc.malloc_trim if libc is not None else None
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Returns freed heap pages to the OS where the C library allows it (glibc's ``malloc_trim``)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
