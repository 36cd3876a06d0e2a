"""A sentence-transformers model run with onnxruntime: one export with torch, then queries without it.

A query vector from the torch model costs a 1.4 GB, ~6 s import of torch, transformers and
sentence-transformers. The same network exported once to ONNX and run with onnxruntime and the
``tokenizers`` fast tokenizer gives the same vectors (cosine >= 0.999, checked at export) after a
~0.2 s import. The export is cached in a folder keyed by a hash of the model's files::

    <root>/<folder-name>-<key>/model.onnx       the whole sentence-transformers pipeline (transformer,
                                                pooling, dense/normalize modules): ids -> sentence vector,
                                                its graph already fused by onnxruntime
    <root>/<folder-name>-<key>/model.onnx.data  its weights, kept apart so onnxruntime maps them
                                                instead of parsing them (0.05 s to load, not 0.2 s)
    <root>/<folder-name>-<key>/tokenizer.json   the fast tokenizer the model was loaded with
    <root>/<folder-name>-<key>/meta.json        input names, max sequence length, dim; written last

A folder is written under a temporary name and renamed into place, so readers never see half an
export; one that cannot be read is rebuilt with a one-line warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

EXPORT_VERSION = 2
"""Bumped whenever the export changes what a cached folder holds; old folders are then ignored."""

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_CHECK_TEXTS = (
    "",
    "a",
    "A man is playing a guitar on stage.",
    "Ünïcödé: 東京のタクシー 🚕, café naïve",
    "a long sentence that runs past the maximum sequence length " * 60,
)
MIN_EXPORT_COSINE = 0.999
"""An export whose vectors differ more than this from the torch model's is refused."""


class OnnxCacheError(RuntimeError):
    """A cached ONNX export cannot be used (missing file, unreadable, wrong shape)."""


class OnnxTextModel:
    """A cached export: ``encode(texts) -> float32 [N,D]`` unit rows, with onnxruntime on the CPU.

    Args:
        folder: a cache folder written by ``export_onnx``.
        threads: onnxruntime intra-op threads (1: a short query on busy cores is fastest alone).

    Raises:
        OnnxCacheError: the folder is incomplete or its files cannot be loaded.
    """

    def __init__(self, folder: Path, threads: int = 1) -> None:
        self.folder = folder
        try:
            self.meta = json.loads((folder / "meta.json").read_text())
            model_path = folder / "model.onnx"
            for name, expected in self.meta["bytes"].items():
                size = (folder / name).stat().st_size
                if size != expected:
                    raise OnnxCacheError(f"{name} is {size} bytes, meta.json says {expected}")
            self._tokenizer = _load_tokenizer(folder / "tokenizer.json", self.meta)
            self._session = _load_session(model_path, threads)
        except OnnxCacheError:
            raise
        except Exception as err:  # any unreadable piece means the same thing: rebuild the folder
            raise OnnxCacheError(f"{type(err).__name__}: {err}") from err
        self.dim = int(self.meta["dim"])

    def get_embedding_dimension(self) -> int:
        """Vector length D."""
        return self.dim

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """``list[str]`` of N -> ``float32 [N,D]`` unit rows (longer texts truncated like the torch model)."""
        if self.meta["do_lower_case"]:
            texts = [t.lower() for t in texts]
        out = [self._run(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        vectors = np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        vectors = self._session.run(None, {name: feeds[name] for name in self.meta["inputs"]})[0]
        if vectors.shape != (len(texts), self.dim):
            raise OnnxCacheError(f"{self.folder}: output shape {vectors.shape}, expected ({len(texts)}, {self.dim})")
        return vectors


def load_or_export(
    model_folder: Path, root: Path, load_torch_model: Callable[[], Any], threads: int = 1
) -> OnnxTextModel:
    """The cached export of ``model_folder`` under ``root``, exporting (or re-exporting) it when needed.

    Args:
        model_folder: the sentence-transformers model folder (its files key the cache).
        root: cache root (``$VIDMEM_HOME/models``).
        load_torch_model: returns the loaded ``SentenceTransformer``; called only to export.
        threads: onnxruntime intra-op threads.

    Raises:
        OnnxCacheError: the model cannot be exported faithfully (not traceable, vectors differ).
    """
    folder = root / f"{model_folder.name}-{model_key(model_folder)}"
    if folder.is_dir():
        try:
            return OnnxTextModel(folder, threads)
        except OnnxCacheError as err:
            warnings.warn(f"ONNX text model cache {folder} is unreadable ({err}); rebuilding it", stacklevel=2)
            _remove(folder)
    export_onnx(load_torch_model(), folder)
    return OnnxTextModel(folder, threads)


def model_key(model_folder: Path) -> str:
    """16 hex digits naming a model folder's contents, the export format and the onnxruntime version.

    Small files are hashed whole, large ones (the weights) by size and their first and last MiB,
    so keying a 90 MB model costs a few milliseconds per process.
    """
    import onnxruntime

    # the saved graph holds onnxruntime's fused ops: a new onnxruntime gets a fresh export
    h = hashlib.sha256(f"vidmem-onnx-export:{EXPORT_VERSION}:onnxruntime-{onnxruntime.__version__}".encode())
    for path in sorted(p for p in model_folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        h.update(f"{path.relative_to(model_folder).as_posix()}:{size}".encode())
        with path.open("rb") as f:
            if size <= 4 << 20:
                h.update(f.read())
            else:
                h.update(f.read(1 << 20))
                f.seek(-(1 << 20), os.SEEK_END)
                h.update(f.read())
    return h.hexdigest()[:16]


def export_onnx(model: Any, folder: Path) -> None:
    """Exports a loaded ``SentenceTransformer`` (CPU) into ``folder``, atomically.

    The whole module pipeline is traced, so pooling and any dense or normalize layers are exactly
    the model's own. The export is checked against the torch model on varied texts before it is
    kept.

    Raises:
        OnnxCacheError: no fast tokenizer, unsupported inputs, or vectors that differ from torch's.
    """
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise OnnxCacheError("the model has no fast tokenizer (tokenizer.json) to run without transformers")
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    sample = preprocess(["a short text", "another, slightly longer text"])
    tensors = {k for k, v in sample.items() if hasattr(v, "shape")}
    inputs = [name for name in _INPUTS if name in tensors]
    if tensors - set(_INPUTS) or "input_ids" not in inputs or "attention_mask" not in inputs:
        raise OnnxCacheError(f"unsupported model inputs {sorted(tensors)}")
    meta = {
        "export_version": EXPORT_VERSION,
        "inputs": inputs,
        "max_seq_length": int(model.max_seq_length),
        "do_lower_case": bool(getattr(model[0], "do_lower_case", False)),
        "pad_id": int(model.tokenizer.pad_token_id or 0),
        "pad_token": str(model.tokenizer.pad_token or "[PAD]"),
        "dim": int(_torch_dim(model)),
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the model it came from
    try:
        backend.save(str(tmp / "tokenizer.json"))
        _trace_to_onnx(model, sample, inputs, tmp / "traced.onnx")
        _optimise(tmp / "traced.onnx", tmp / "model.onnx")
        meta["bytes"] = {p.name: p.stat().st_size for p in tmp.iterdir()}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        _check_against_torch(model, OnnxTextModel(tmp))
        _publish(tmp, folder)
    finally:
        _remove(tmp)


def _trace_to_onnx(model: Any, sample: dict, inputs: list[str], path: Path) -> None:
    import torch

    class Pipeline(torch.nn.Module):
        """Positional tensors in, ``sentence_embedding`` out (ONNX export takes no dicts)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = {**constants, **dict(zip(inputs, tensors, strict=True))}
            return self.model(features)["sentence_embedding"]

    constants = {k: v for k, v in sample.items() if k not in inputs}  # e.g. modality="text"
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs} | {"embedding": {0: "batch"}}
    args = tuple(sample[name].to("cpu") for name in inputs)
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is the one that needs no onnxscript; its tracer warnings are about
        # shape checks that hold for every (batch, sequence) input, which _check_against_torch confirms.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pipeline().eval(), args, str(path), input_names=inputs, output_names=["embedding"],
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip


def _optimise(traced: Path, out: Path) -> None:
    """Saves onnxruntime's fused graph, so each query process skips ~0.2 s of graph optimisation.

    ``extended`` is the highest level whose saved graph is not tied to this CPU's instruction set.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", f"{out.name}.data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    options.log_severity_level = 3
    ort.InferenceSession(str(traced), options, providers=["CPUExecutionProvider"])
    traced.unlink()
    for path in out.parent.iterdir():
        path.chmod(0o644)  # as readable as the model it came from


def _check_against_torch(model: Any, exported: OnnxTextModel) -> None:
    texts = list(_CHECK_TEXTS)
    want = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    for got in (exported.encode(texts), np.concatenate([exported.encode([t]) for t in texts])):
        cosine = (got * want).sum(axis=1)
        if cosine.min() < MIN_EXPORT_COSINE:
            raise OnnxCacheError(f"the ONNX export differs from the torch model (cosine {cosine.min():.4f})")


def _torch_dim(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _load_tokenizer(path: Path, meta: dict) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    # tokenizer.json may carry its own fixed padding/truncation (MiniLM's says 128); the model's rule wins.
    tokenizer.enable_truncation(max_length=meta["max_seq_length"])
    tokenizer.enable_padding(pad_id=meta["pad_id"], pad_token=meta["pad_token"])
    return tokenizer


def _load_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # optimised at export
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    # Texts come in many batch shapes: the default arena and per-shape memory plans kept every
    # shape's buffers and grew an ingest's RSS without bound (472 -> 1061 MB over 300 shapes).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _publish(tmp: Path, folder: Path) -> None:
    """Renames ``tmp`` to ``folder``; when another process got there first, its copy is kept."""
    try:
        os.rename(tmp, folder)
    except OSError:
        if not folder.is_dir():
            raise


def _remove(path: Path) -> None:
    """Deletes a folder; a stale one is first renamed aside so no reader sees it half deleted."""
    if not path.exists():
        return
    aside = path.with_name(f".{path.name}.old-{os.getpid()}")
    try:
        os.rename(path, aside)
    except OSError:
        aside = path
    shutil.rmtree(aside, ignore_errors=True)
