"""Keeping the ingest process's heap from growing with video length (glibc only; elsewhere no-ops).

Two things make a long ingest's resident size creep up on glibc:

- The OCR and text models run onnxruntime without its memory arena, so every frame's buffers are
  malloc'd and freed; glibc keeps freed heap pages mapped. ``release_freed_memory`` (glibc's
  ``malloc_trim``) returns them between checkpoints (measured on a 3-minute 640x360 default ingest:
  peak RSS 1265 MB without, 995 MB with).
- glibc's mmap threshold is dynamic: each time a block above it is freed, the threshold rises to
  that block's size (up to 32 MB), so after the first multi-megabyte frame or model buffer is freed,
  later ones come from the main heap instead of their own mappings, where they fragment it and
  cannot be returned. ``bound_heap_growth`` pins the threshold at 4 MB, which also turns the dynamic
  adjustment off. Measured with ``vidmem bench ingest``'s child on 640x360 speaking video with the
  defaults (peak VmHWM, 1 / 30 / 60 minutes): 382 / 505-541 / 491-558 MB with glibc's default,
  366-374 / 422 / 429 MB pinned here (373 / 411 / 422 with ``MALLOC_MMAP_THRESHOLD_=4194304``), at
  the same wall time. 1 and 2 MB were lower at 1 minute but
  ran up to twice as slow (every buffer a fresh mapping); 8 MB was no better than the default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _symbol(name: str):
    libc = _libc()
    return getattr(libc, name, None) if libc is not None else None


def release_freed_memory() -> None:
    """Returns freed heap pages to the OS where the C library allows it (glibc's ``malloc_trim``)."""
    trim = _symbol("malloc_trim")
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def bound_heap_growth() -> bool:
    """Pins glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES`` for this process, once.

    Returns True when the C library took the setting, False where there is no ``mallopt`` (musl,
    macOS) or it refused. A ``MALLOC_MMAP_THRESHOLD_`` set in the environment is left to win.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _symbol("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
