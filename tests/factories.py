"""Factories of damaged media files, shared by the io tests and the command-line tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def overwrite(path: Path, out: Path, start: float, end: float, seed: int = 0) -> Path:
    """Copy ``path`` to ``out`` with the bytes from fraction ``start`` to ``end`` replaced by noise."""
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * start), int(len(data) * end)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def moov_at_end_truncated(src: Path, out: Path) -> Path:
    data = src.read_bytes()
    assert data.find(b"mdat") < data.find(b"moov")  # PyAV writes the index last
    out.write_bytes(data[: int(len(data) * 0.3)])
    return out


def mdat_garbage(src: Path, out: Path) -> Path:
    """Keep the MP4 index, replace every frame's bytes with noise: nothing decodes."""
    data, pos = bytearray(src.read_bytes()), 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"mdat":
            rng = np.random.default_rng(1)
            data[pos + 8 : pos + size] = rng.integers(0, 256, size - 8, dtype=np.uint8).tobytes()
        pos += size
    out.write_bytes(bytes(data))
    return out


def unknown_codec(src: Path, out: Path) -> Path:
    data = src.read_bytes()
    assert b"V_MPEG4/ISO/AVC" in data
    out.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/AVC"))
    return out
