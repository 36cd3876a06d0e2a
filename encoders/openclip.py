"""open_clip image and text towers behind the ``Encoder`` protocol.

Weights come from disk only (a file, a local model folder, the local Hugging Face cache or open_clip's
URL cache; see ``encoders._openclip_load``). Missing weights raise ``WeightsMissingError``; random
weights are used only when a preset named ``tiny``/``random`` asks for them (``random_init``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoders._runtime import check_device_name, resolve_device
from encoders.base import ENCODERS, l2_normalize

_PREPROCESS_VERSION = 1
_PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_RANDOM_NAME_MARKERS = ("tiny", "random")

_MODELS: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class OpenCLIPConfig:
    """An open_clip architecture plus where its weights come from.

    Attributes:
        name: registered or preset name (``clip-b32``, ``tiny``); used in error messages.
        arch: open_clip architecture (``ViT-B-32``) or one of ``CUSTOM_ARCHS`` (``tiny-clip``).
            Ignored for ``hf-hub:`` ids and model folders, which carry their own architecture.
        weights: a local checkpoint file or open_clip model folder, ``hf-hub:org/repo`` (read from the
            local HF cache only) or an open_clip pretrained tag (``laion2b_s34b_b79k``, cached only).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        precision: ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16`` or ``bf16``.
        batch_size: images or texts per forward pass.
        random_init: use seeded random weights; allowed only for presets named tiny/random.
        seed: seed of the random init.
        cache_dir: Hugging Face hub cache folder (and open_clip URL cache) to look in; None = default.
    """

    name: str = "openclip"
    arch: str = "ViT-B-32"
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    random_init: bool = False
    seed: int = 0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {_PRECISIONS}, got {self.precision!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.random_init and self.weights:
            raise ValueError(f"encoder {self.name!r}: random_init and weights ({self.weights!r}) exclude each other")
        if self.random_init and not any(m in self.name.lower() for m in _RANDOM_NAME_MARKERS):
            raise ValueError(
                f"encoder {self.name!r}: random_init is allowed only for presets whose name says so "
                f"(contains {' or '.join(_RANDOM_NAME_MARKERS)}); random vectors mean nothing"
            )


class OpenCLIPEncoder:
    """Images and text into one CLIP space, batched, without gradients.

    Preprocessing follows the model's own config (resize mode, interpolation, centre crop, mean/std)
    but runs as tensor ops on the whole ``uint8`` batch, on the model's device.

    Args:
        config: architecture, weights and runtime settings.

    Raises:
        WeightsMissingError: the configured weights are not on this machine.
    """

    has_text = True

    def __init__(self, config: OpenCLIPConfig | None = None) -> None:
        from encoders._openclip_load import resolve_weights

        self.config = config or OpenCLIPConfig()
        self.name = self.config.name
        resolved = resolve_weights(self.config)  # raises before any torch import when weights are missing
        self.device = resolve_device(self.config.device)
        self.precision = self.config.precision
        if self.precision == "auto":
            self.precision = "fp16" if self.device.startswith("cuda") else "fp32"
        self._model, self._tokenizer = _load_model(self.config, resolved, self.device, self.precision)
        self._preprocess_cfg = _preprocess_cfg(self._model)
        self._input_dtype = _input_dtype(self.precision)
        self.dim = int(self.encode_text([""]).shape[1])
        arch = "" if resolved.kind == "dir" else f"{self.config.arch}:"
        self.version = f"openclip:{arch}{resolved.ident}:pp{_PREPROCESS_VERSION}"

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """Embeds a batch of frames.

        Args:
            images: ``uint8 [N,H,W,3]`` RGB frames, all the same size.

        Returns:
            ``float32 [N,D]`` unit rows.
        """
        import torch

        _check_images(images)
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.config.batch_size):
                pixels = self._preprocess(images[start : start + self.config.batch_size])
                chunks.append(self._model.encode_image(pixels).float().cpu().numpy())
        return l2_normalize(np.concatenate(chunks))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embeds texts into the image space.

        Args:
            texts: N strings (longer ones are truncated to the model's context length).

        Returns:
            ``float32 [N,D]`` unit rows.
        """
        import torch

        if isinstance(texts, str):
            raise TypeError("encode_text takes a list of strings, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.config.batch_size):
                tokens = self._tokenizer(texts[start : start + self.config.batch_size]).to(self.device)
                chunks.append(self._model.encode_text(tokens).float().cpu().numpy())
        return l2_normalize(np.concatenate(chunks))

    def _preprocess(self, images: np.ndarray) -> Any:
        """``uint8 [B,H,W,3]`` -> normalised ``[B,3,S,S]`` tensor on the model's device and dtype."""
        import torch

        cfg = self._preprocess_cfg
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        x = x.permute(0, 3, 1, 2).float()
        x = resize_and_crop(x, cfg["size"], cfg["resize_mode"], cfg["interpolation"], cfg["fill_color"])
        mean = torch.tensor(cfg["mean"], device=x.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(cfg["std"], device=x.device).view(1, 3, 1, 1) * 255.0
        x = (x - mean) / std
        return x.to(self._input_dtype) if self._input_dtype is not None else x


def resize_and_crop(x: Any, size: Any, resize_mode: str, interpolation: str, fill: float = 0.0) -> Any:
    """open_clip's eval transform on a float batch ``[B,3,H,W]`` (0..255) -> ``[B,3,th,tw]``.

    ``shortest``: resize so the image covers the target, centre crop. ``longest``: resize so it fits,
    centre pad with ``fill``. ``squash``: resize to the target, ignoring aspect. Downscaling is
    antialiased, as PIL's resize (which open_clip uses) is.
    """
    import torch.nn.functional as F

    th, tw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    h, w = x.shape[-2:]
    if resize_mode == "squash":
        new_h, new_w = th, tw
    elif resize_mode == "shortest" and th == tw:
        # torchvision Resize(int): short side -> size, long side truncated.
        short, long = min(h, w), max(h, w)
        new_short, new_long = th, int(th * long / short)
        new_h, new_w = (new_short, new_long) if h <= w else (new_long, new_short)
    else:
        ratio_h, ratio_w = h / th, w / tw
        ratio = max(ratio_h, ratio_w) if resize_mode == "longest" else min(ratio_h, ratio_w)
        new_h, new_w = round(h / ratio), round(w / ratio)
    mode = "bilinear" if interpolation == "bilinear" else "bicubic"
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode=mode, align_corners=False, antialias=True)
        x = x.clamp_(0.0, 255.0).round_()  # PIL hands open_clip a uint8 image
    return _center_crop_or_pad(x, th, tw, fill)


def _center_crop_or_pad(x: Any, th: int, tw: int, fill: float) -> Any:
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    if th > h or tw > w:
        pad_w, pad_h = max(tw - w, 0), max(th - h, 0)
        x = F.pad(x, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2), value=float(fill))
        h, w = x.shape[-2:]
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return x[..., top : top + th, left : left + tw]


def _load_model(config: OpenCLIPConfig, resolved: Any, device: str, precision: str) -> tuple[Any, Any]:
    """Builds the model once per process per (weights, device, precision)."""
    from encoders._openclip_load import build_model

    seed = config.seed if resolved.kind == "random" else None
    key = (
        config.arch,
        resolved.kind,
        resolved.path,
        resolved.ident,
        repr(resolved.preprocess),
        resolved.quick_gelu,
        device,
        precision,
        seed,
    )
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = build_model(config, resolved, device, precision)
        return _MODELS[key]


def _preprocess_cfg(model: Any) -> dict[str, Any]:
    import open_clip

    cfg = dict(open_clip.get_model_preprocess_cfg(model))
    size = cfg.get("size", 224)
    cfg["size"] = size if isinstance(size, int) else tuple(size)
    cfg.setdefault("mean", open_clip.OPENAI_DATASET_MEAN)
    cfg.setdefault("std", open_clip.OPENAI_DATASET_STD)
    cfg.setdefault("interpolation", "bicubic")
    cfg.setdefault("resize_mode", "shortest")
    cfg.setdefault("fill_color", 0)
    return cfg


def _input_dtype(precision: str) -> Any:
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] != 3:
        shape = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"images must be a numpy array uint8 [N,H,W,3] RGB, got {shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {images.dtype}")


ENCODERS.register("openclip", OpenCLIPConfig)(OpenCLIPEncoder)
