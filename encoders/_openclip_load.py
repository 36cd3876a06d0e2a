"""Finding open_clip weights on this machine (never downloading them) and building the model.

A weights source is one of: a local checkpoint file, a local open_clip model folder
(``open_clip_config.json`` + checkpoint), ``hf-hub:org/repo`` looked up in the local Hugging Face
cache only, or an open_clip pretrained tag (``laion2b_s34b_b79k``) whose file must already be in the
HF cache or open_clip's URL cache. Anything else is a ``WeightsMissingError``; nothing here falls
back to random weights unless the config asks for them (``random_init``).
"""

from __future__ import annotations

import copy
import difflib
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encoders._runtime import hf_cache_root, hf_cached_file, hf_offline, preset_hint
from encoders.base import PRESET_DIR, WeightsMissingError

HF_HUB_PREFIX = "hf-hub:"
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".npz")
_HF_WEIGHTS = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]

# Architectures defined here rather than in open_clip; there are no published weights for them.
CUSTOM_ARCHS: dict[str, dict[str, Any]] = {
    "tiny-clip": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    },
}


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights come from, after looking on disk.

    Attributes:
        kind: ``random`` (seeded init), ``file`` (a checkpoint) or ``dir`` (an open_clip model folder).
        path: the checkpoint file or model folder (None for ``random``).
        ident: a short, stable description for the encoder's version string.
        preprocess: preprocessing overrides that belong to a pretrained tag (mean, std, ...).
        quick_gelu: whether the tag's weights were trained with QuickGELU.
    """

    kind: str
    path: str | None
    ident: str
    preprocess: dict[str, Any] = field(default_factory=dict)
    quick_gelu: bool = False


def resolve_weights(config: Any) -> ResolvedWeights:
    """Finds the weights an ``OpenCLIPConfig`` names, on this machine only.

    Raises:
        WeightsMissingError: the weights are not on disk (the message says how to supply them).
        ValueError: ``weights`` is not a path, an ``hf-hub:`` id or a known open_clip tag.
    """
    if config.random_init:
        return ResolvedWeights("random", None, f"random-seed{config.seed}")
    weights = config.weights
    if not weights:
        raise WeightsMissingError(_missing_message(config, "no weights are configured", None, None))
    if weights.startswith(HF_HUB_PREFIX):
        return _from_hf_hub(config, weights[len(HF_HUB_PREFIX) :])
    if _looks_like_path(weights):
        return _from_path(config, Path(weights).expanduser())
    return _from_tag(config, weights)


def _looks_like_path(weights: str) -> bool:
    return (
        os.sep in weights
        or "/" in weights
        or weights.startswith(("~", "."))
        or weights.endswith(_CHECKPOINT_SUFFIXES)
        or os.path.exists(weights)
    )


def _from_path(config: Any, path: Path) -> ResolvedWeights:
    if path.is_file():
        return ResolvedWeights("file", str(path), f"file:{path.name}:{path.stat().st_size}")
    if path.is_dir() and (path / "open_clip_config.json").is_file():
        return ResolvedWeights("dir", str(path), f"dir:{path.name}")
    what = f"no checkpoint file at {path}"
    raise WeightsMissingError(_missing_message(config, what, None, None, expected_path=path))


def _from_hf_hub(config: Any, repo_id: str) -> ResolvedWeights:
    config_file = hf_cached_file(repo_id, ["open_clip_config.json"], config.cache_dir)
    weights_file = hf_cached_file(repo_id, _HF_WEIGHTS, config.cache_dir)
    if config_file is None or weights_file is None:
        what = f"hf-hub:{repo_id} is not in the local Hugging Face cache ({hf_cache_root(config.cache_dir)})"
        raise WeightsMissingError(_missing_message(config, what, repo_id, _HF_WEIGHTS[0], also_config=True))
    snapshot = Path(config_file).parent
    if Path(weights_file).parent != snapshot:
        raise WeightsMissingError(
            _missing_message(
                config,
                f"hf-hub:{repo_id} config and weights are in different cache snapshots",
                repo_id,
                _HF_WEIGHTS[0],
                also_config=True,
            )
        )
    return ResolvedWeights("dir", str(snapshot), f"hf-hub:{repo_id}@{snapshot.name[:12]}")


def _from_tag(config: Any, tag: str) -> ResolvedWeights:
    import open_clip

    if config.arch in CUSTOM_ARCHS:
        raise ValueError(f"arch {config.arch!r} has no published weights; give weights as a local file path")
    check_arch(config.arch)
    tag_cfg = open_clip.get_pretrained_cfg(config.arch, tag)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(config.arch)
        close = difflib.get_close_matches(tag.lower().replace("-", "_"), tags, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"weights {tag!r} of encoder {config.name!r} is neither a file path, an 'hf-hub:org/repo' id "
            f"nor an open_clip tag of {config.arch!r}{hint} (tags: {', '.join(tags) or 'none'})"
        )
    preprocess = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}
    quick_gelu = bool(tag_cfg.get("quick_gelu", False))
    ident = f"tag:{tag}"
    repo_id, filename = None, None
    if tag_cfg.get("hf_hub"):
        # open_clip's convention: "org/repo/file.bin", or "org/repo/" for the default file name.
        repo_id, filename = posixpath.split(tag_cfg["hf_hub"])
        found = hf_cached_file(repo_id, _safe_first(filename), config.cache_dir)
        if found:
            return ResolvedWeights("file", found, ident, preprocess, quick_gelu)
    url = tag_cfg.get("url", "")
    if url:
        url_cache = Path(config.cache_dir or os.path.expanduser("~/.cache/clip"))
        candidate = url_cache / os.path.basename(url)
        if candidate.is_file():
            return ResolvedWeights("file", str(candidate), ident, preprocess, quick_gelu)
    what = f"open_clip tag {tag!r} for {config.arch} is not cached on this machine"
    raise WeightsMissingError(_missing_message(config, what, repo_id, filename or _HF_WEIGHTS[0], tag=tag))


def check_arch(arch: str) -> None:
    """Raises ValueError (with close names) unless ``arch`` is an open_clip or custom architecture."""
    import open_clip

    known = list(open_clip.list_models()) + list(CUSTOM_ARCHS)
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown open_clip arch {arch!r}{hint}")


def _safe_first(filename: str) -> list[str]:
    """Checkpoint names to look for, safetensors first (as open_clip prefers them)."""
    if not filename or filename == _HF_WEIGHTS[1]:
        return list(_HF_WEIGHTS)
    if filename.endswith((".bin", ".pth")):
        return [filename[:-4] + ".safetensors", filename]
    return [filename]


def _missing_message(
    config: Any,
    what: str,
    repo_id: str | None,
    filename: str | None,
    *,
    tag: str | None = None,
    also_config: bool = False,
    expected_path: Path | None = None,
) -> str:
    """The text of a ``WeightsMissingError``: what is missing and the ways to supply it."""
    ways = []
    if repo_id:
        files = f"open_clip_config.json {filename}" if also_config else filename
        fetch = f"`hf download {repo_id} {files}`"
        if tag:
            create = f"open_clip.create_model('{config.arch}', pretrained='{tag}')"
            fetch += f' or `python -c "import open_clip; {create}"`'
        ways.append(
            f"pre-populate the Hugging Face cache ({hf_cache_root(config.cache_dir)}; HF_HUB_CACHE or HF_HOME "
            f"move it) on a machine with network, e.g. {fetch}, and copy the cache here"
        )
    if expected_path is not None:
        example = "/path/to/open_clip_model.safetensors"
        ways.append(
            f"put the checkpoint file at {expected_path}, or "
            + preset_hint(PRESET_DIR, config.name, "weights", example)
            + " (or pass weights=... to build_encoder)"
        )
    else:
        target = f"/path/to/{filename or 'open_clip_model.safetensors'}"
        ways.append(
            f"put the checkpoint file on disk (e.g. {target}) and "
            + preset_hint(PRESET_DIR, config.name, "weights", target)
            + " (or pass weights=... to build_encoder)"
        )
    numbered = "; ".join(f"({i}) {way}" for i, way in enumerate(ways, start=1))
    return (
        f"encoder {config.name!r} (open_clip {config.arch}) needs real weights, but {what}. "
        f"vidmem never downloads weights at run time and never falls back to random weights. "
        f"Supply them: {numbered}."
    )


def build_model(config: Any, resolved: ResolvedWeights, device: str, precision: str) -> tuple[Any, Any]:
    """Builds ``(model, tokenizer)`` in eval mode on ``device`` with ``precision`` (fp32/fp16/bf16)."""
    import open_clip
    import torch

    with hf_offline(), torch.random.fork_rng(devices=[]):
        # Seeding inside fork_rng keeps the random init reproducible without touching the caller's RNG.
        torch.manual_seed(config.seed)
        if resolved.kind == "dir":
            source = f"local-dir:{resolved.path}"
            model = open_clip.create_model(source, device=device, precision=precision)
            tokenizer = open_clip.get_tokenizer(source)
        elif config.arch in CUSTOM_ARCHS:
            model, tokenizer = _build_custom(config.arch, resolved, device, precision)
        else:
            check_arch(config.arch)
            model = open_clip.create_model(
                config.arch,
                pretrained=resolved.path,
                device=device,
                precision=precision,
                force_quick_gelu=resolved.quick_gelu,
                force_preprocess_cfg=resolved.preprocess or None,
                pretrained_image=False,
                pretrained_text=False,
                require_pretrained=resolved.kind != "random",
            )
            tokenizer = open_clip.get_tokenizer(config.arch)
    model.eval()
    return model, tokenizer


def _build_custom(arch: str, resolved: ResolvedWeights, device: str, precision: str) -> tuple[Any, Any]:
    import open_clip
    import torch

    model_cfg = copy.deepcopy(CUSTOM_ARCHS[arch])
    model = open_clip.CLIP(**model_cfg, cast_dtype=open_clip.get_cast_dtype(precision))
    if resolved.kind == "file":
        open_clip.load_checkpoint(model, resolved.path)
    size = model_cfg["vision_cfg"]["image_size"]
    preprocess = {
        "size": size,
        "mode": "RGB",
        "mean": open_clip.OPENAI_DATASET_MEAN,
        "std": open_clip.OPENAI_DATASET_STD,
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }
    open_clip.set_model_preprocess_cfg(model, preprocess)
    model.to(device=device)
    if precision in ("fp16", "bf16"):
        open_clip.convert_weights_to_lp(model, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)
    tokenizer = open_clip.SimpleTokenizer(context_length=model_cfg["text_cfg"]["context_length"])
    return model, tokenizer
