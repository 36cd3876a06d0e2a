"""The ``Encoder`` protocol: pixels (and, where a text tower exists, words) to unit vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from encoders.registry import Registry

PRESET_DIR = Path(__file__).resolve().parents[1] / "configs" / "encoders"


class WeightsMissingError(FileNotFoundError):
    """Real weights for a preset are not on this machine; the message says how to supply them."""


@runtime_checkable
class Encoder(Protocol):
    """Turns images (and maybe text) into L2-normalised float32 vectors.

    Attributes:
        name: registered name or preset name (``classical``, ``clip-b32``, ``tiny``).
        version: a string that changes whenever vectors would change (weights, parameters).
        dim: vector length D.
        has_text: True when ``encode_text`` maps text into the image space.

    Optional: ``placed_similarity(image, stored) -> float32 [N]``, one query picture against stored
    single-frame vectors allowing a crop or a border around the frame (the classical descriptor has
    it; image search uses it when present, else the plain cosine).
    """

    name: str
    version: str
    dim: int
    has_text: bool

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """``uint8 [N,H,W,3]`` RGB -> ``float32 [N,D]`` unit rows."""
        ...

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """``list[str]`` of N -> ``float32 [N,D]`` unit rows; raises if ``has_text`` is False."""
        ...


@runtime_checkable
class TextEncoder(Protocol):
    """Turns text into L2-normalised float32 vectors (a text-only space)."""

    name: str
    version: str
    dim: int

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """``list[str]`` of N -> ``float32 [N,D]`` unit rows."""
        ...


ENCODERS: Registry[Encoder] = Registry("encoder", PRESET_DIR)
TEXT_ENCODERS: Registry[TextEncoder] = Registry("text encoder", PRESET_DIR.parent / "text_encoders")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``float [N,D]`` scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)
