"""open_clip encoder: the tiny random preset, weights resolution (offline only), preprocessing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from encoders import Encoder, WeightsMissingError, build_encoder
from encoders._openclip_load import CUSTOM_ARCHS
from encoders.openclip import OpenCLIPConfig, resize_and_crop


@pytest.fixture(scope="module")
def tiny():
    return build_encoder("tiny", device="cpu")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 90, 160, 3), dtype=np.uint8)


def _state_dict_of(encoder) -> dict:
    return {k: v.detach().clone() for k, v in encoder._model.state_dict().items()}


def test_tiny_encode_images_shapes_unit_rows_repeatable(tiny, images):
    vectors = tiny.encode_images(images)
    assert vectors.shape == (5, tiny.dim) == (5, 64)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors, tiny.encode_images(images))
    assert tiny.encode_images(images[:0]).shape == (0, 64)


def test_tiny_encode_text_shapes_unit_rows_repeatable(tiny):
    texts = ["a red disk on grass", "a harbour at dusk", ""]
    vectors = tiny.encode_text(texts)
    assert vectors.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors, tiny.encode_text(texts))
    assert not np.allclose(vectors[0], vectors[1])
    assert tiny.has_text is True
    with pytest.raises(TypeError):
        tiny.encode_text("not a list")


def test_tiny_is_named_random_and_batching_does_not_change_vectors(tiny, images):
    assert "random" in tiny.version and "tiny-clip" in tiny.version
    assert isinstance(tiny, Encoder)
    small_batches = build_encoder("tiny", device="cpu", batch_size=2)
    np.testing.assert_allclose(small_batches.encode_images(images), tiny.encode_images(images), atol=1e-5)


def test_random_init_is_seeded(tiny, images, monkeypatch):
    import encoders.openclip as openclip_module

    monkeypatch.setattr(openclip_module, "_MODELS", {})  # force a fresh build, not the process cache
    rebuilt = build_encoder("tiny", device="cpu")
    np.testing.assert_array_equal(rebuilt.encode_images(images), tiny.encode_images(images))
    other_seed = build_encoder("tiny", device="cpu", seed=1)
    assert not np.allclose(other_seed.encode_images(images), tiny.encode_images(images))


def test_random_init_refused_unless_the_name_says_so():
    with pytest.raises(ValueError, match="random_init"):
        OpenCLIPConfig(name="clip-b32", arch="ViT-B-32", random_init=True)
    with pytest.raises(ValueError, match="exclude"):
        OpenCLIPConfig(name="tiny", random_init=True, weights="/x.safetensors")


def test_missing_real_weights_raise_naming_the_preset(tmp_path):
    # An empty cache folder makes the outcome independent of what this machine has cached.
    with pytest.raises(WeightsMissingError) as caught:
        build_encoder("clip-b32", cache_dir=str(tmp_path))
    message = str(caught.value)
    assert "'clip-b32'" in message
    assert "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message  # what to fetch
    assert "clip-b32.yaml" in message and "weights:" in message  # where to point it
    assert "random" in message  # says it will not fall back
    assert isinstance(caught.value, FileNotFoundError)


def test_missing_local_checkpoint_names_the_path(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsMissingError, match="nope.safetensors"):
        build_encoder("clip-b32", weights=str(missing))


def test_plain_type_without_weights_raises():
    with pytest.raises(WeightsMissingError, match="no weights are configured"):
        build_encoder("openclip")


def test_unknown_tag_suggests_close_tags():
    with pytest.raises(ValueError, match="did you mean 'laion2b_s34b_b79k'"):
        build_encoder("clip-b32", weights="laion2b_s34b_b79")


def test_unknown_arch_suggests_close_archs():
    with pytest.raises(ValueError, match="did you mean 'ViT-B-32'"):
        build_encoder("clip-b32", arch="ViT-B-23")


def test_local_checkpoint_file_is_loaded(tiny, images, tmp_path):
    import torch

    seed1 = build_encoder("tiny", device="cpu", seed=1)
    checkpoint = tmp_path / "tiny-seed1.pt"
    torch.save(_state_dict_of(seed1), checkpoint)
    loaded = build_encoder("tiny", device="cpu", random_init=False, weights=str(checkpoint))
    np.testing.assert_allclose(loaded.encode_images(images), seed1.encode_images(images), atol=1e-6)
    assert "tiny-seed1.pt" in loaded.version and "random" not in loaded.version


def test_hf_hub_id_resolves_from_local_cache_only(images, tmp_path):
    from safetensors.torch import save_file

    seed1 = build_encoder("tiny", device="cpu", seed=1)
    snapshot = tmp_path / "models--vidmem--tiny-clip" / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (tmp_path / "models--vidmem--tiny-clip" / "refs").mkdir()
    (tmp_path / "models--vidmem--tiny-clip" / "refs" / "main").write_text("0123456789abcdef")
    (snapshot / "open_clip_config.json").write_text(json.dumps({"model_cfg": CUSTOM_ARCHS["tiny-clip"]}))
    save_file({k: v.contiguous() for k, v in _state_dict_of(seed1).items()}, snapshot / "open_clip_model.safetensors")
    offline_before = os.environ.get("HF_HUB_OFFLINE")

    loaded = build_encoder(
        "tiny", device="cpu", random_init=False, weights="hf-hub:vidmem/tiny-clip", cache_dir=str(tmp_path)
    )
    np.testing.assert_allclose(loaded.encode_images(images), seed1.encode_images(images), atol=1e-5)
    np.testing.assert_allclose(loaded.encode_text(["a boat"]), seed1.encode_text(["a boat"]), atol=1e-5)
    assert loaded.version.startswith("openclip:hf-hub:vidmem/tiny-clip@")
    assert os.environ.get("HF_HUB_OFFLINE") == offline_before  # the offline switch is scoped

    with pytest.raises(WeightsMissingError, match="not in the local Hugging Face cache"):
        build_encoder("tiny", random_init=False, weights="hf-hub:vidmem/absent", cache_dir=str(tmp_path))


@pytest.mark.parametrize("mode", ["shortest", "longest", "squash"])
def test_preprocessing_matches_open_clip_transform(mode):
    import open_clip
    import torch
    from PIL import Image

    x = np.linspace(0, 255, 300, dtype=np.float32)
    frame = np.stack([np.tile(x, (170, 1)), np.tile(x[::-1], (170, 1)), np.full((170, 300), 90.0)], axis=-1)
    frame = frame.astype(np.uint8)
    reference = open_clip.image_transform(64, is_train=False, resize_mode=mode)(Image.fromarray(frame)).numpy()
    pixels = torch.from_numpy(frame[None]).permute(0, 3, 1, 2).float()
    ours = resize_and_crop(pixels, 64, mode, "bicubic")[0]
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(3, 1, 1) * 255
    ours = ((ours - mean) / std).numpy()
    assert ours.shape == reference.shape == (3, 64, 64)
    assert np.abs(ours - reference).mean() < 0.01


@pytest.mark.gpu
def test_fp16_on_cuda_matches_fp32_on_cpu(images):
    gpu = build_encoder("tiny", device="cuda")
    cpu = build_encoder("tiny", device="cpu")
    assert gpu.precision == "fp16"
    on_gpu = gpu.encode_images(images)
    assert on_gpu.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(on_gpu, axis=1), 1.0, atol=1e-3)
    assert (np.sum(on_gpu * cpu.encode_images(images), axis=1) > 0.99).all()
    assert (np.sum(gpu.encode_text(["a boat"]) * cpu.encode_text(["a boat"]), axis=1) > 0.99).all()
