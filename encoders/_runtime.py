"""Small runtime helpers shared by the torch-backed encoders: offline Hub access, device choice, hints.

Nothing here imports torch or huggingface_hub at module import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@contextmanager
def hf_offline() -> Iterator[None]:
    """Runs the block with the Hugging Face Hub in offline mode, then restores the previous mode.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at import, so setting the environment is not
    enough when it is already imported: its module constant is switched too. Inside the block every
    Hub lookup is served from the local cache or fails; nothing is downloaded.
    """
    saved_env = {var: os.environ.get(var) for var in _OFFLINE_VARS}
    for var in _OFFLINE_VARS:
        os.environ[var] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    saved_constant = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:
            # Imported inside the block: it captured "offline"; give it the mode it would have had.
            if saved_constant is None:
                saved_constant = any(
                    (saved_env[var] or "").upper() in ("1", "ON", "YES", "TRUE") for var in _OFFLINE_VARS
                )
            constants.HF_HUB_OFFLINE = saved_constant


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a CUDA device is visible, else ``"cpu"``; other values pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device_name(device: str) -> None:
    """Raises ValueError unless ``device`` is ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``."""
    base, _, index = device.partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {device!r}")


def preset_hint(preset_dir: Path, name: str, field: str, example: str) -> str:
    """A sentence telling the user where to set ``field`` for preset ``name``."""
    preset = preset_dir / f"{name}.yaml"
    where = f"in {preset}" if preset.is_file() else f"in a preset under {preset_dir}/ or as an override"
    return f"set `{field}: {example}` {where}"


def hf_cached_file(repo_id: str, filenames: list[str], cache_dir: str | None) -> str | None:
    """Path of the first of ``filenames`` present in the local HF cache for ``repo_id``, else None.

    Reads the cache only (``try_to_load_from_cache``); never opens a connection.
    """
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found: Any = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def hf_cache_root(cache_dir: str | None) -> str:
    """The HF hub cache folder that lookups use (``cache_dir`` or the library default)."""
    if cache_dir:
        return cache_dir
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)
