"""The classical descriptor: shapes, unit rows, determinism, discrimination, speed, config checks, placed similarity."""

from __future__ import annotations

import numpy as np
import pytest

from encoders import build_encoder
from encoders.classical import ClassicalConfig, ClassicalEncoder


@pytest.fixture(scope="module")
def encoder() -> ClassicalEncoder:
    return build_encoder("classical")


def test_shapes_dtype_and_unit_rows(encoder, make_clip_frames):
    frames = make_clip_frames(5)
    vectors = encoder.encode_images(frames)
    assert vectors.shape == (5, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert 200 <= encoder.dim <= 400
    assert encoder.has_text is False


def test_dim_follows_parameters():
    enc = ClassicalEncoder(ClassicalConfig(color_bins=(4, 2, 2), orientation_bins=6, grid=(2, 2), thumb=(8, 6)))
    assert enc.dim == 4 * 2 * 2 + 2 * 2 * 6 + 8 * 6
    assert enc.encode_images(np.zeros((2, 50, 70, 3), dtype=np.uint8)).shape == (2, enc.dim)


def test_empty_batch_gives_empty_matrix(encoder):
    out = encoder.encode_images(np.zeros((0, 360, 640, 3), dtype=np.uint8))
    assert out.shape == (0, encoder.dim)
    assert out.dtype == np.float32


def test_flat_frame_still_gets_a_unit_vector(encoder):
    grey = np.full((1, 120, 160, 3), 128, dtype=np.uint8)
    assert np.linalg.norm(encoder.encode_images(grey)[0]) == pytest.approx(1.0, abs=1e-5)


def test_deterministic_and_independent_of_batching(encoder, make_clip_frames):
    frames = make_clip_frames(11)  # not a multiple of the internal chunk size
    batch = encoder.encode_images(frames)
    again = encoder.encode_images(frames)
    one_by_one = np.concatenate([encoder.encode_images(frames[i : i + 1]) for i in range(len(frames))])
    np.testing.assert_array_equal(batch, again)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-6)


def test_moved_disk_is_closer_than_another_scene(encoder, make_scene):
    a = make_scene("meadow", disk_x=260, seed=1)
    a_moved = make_scene("meadow", disk_x=320, seed=2)  # the disk moved 60 px
    b = make_scene("harbour", disk_x=260, seed=3)
    va, va_moved, vb = encoder.encode_images(np.stack([a, a_moved, b]))
    assert va @ va_moved > va @ vb + 0.2
    assert va @ va_moved > va_moved @ vb + 0.2
    assert va @ va_moved < 1.0 - 1e-4  # the move is still visible


def test_each_frame_is_closest_to_itself(encoder, make_clip_frames):
    vectors = encoder.encode_images(make_clip_frames(12))
    similarity = vectors @ vectors.T
    np.testing.assert_array_equal(similarity.argmax(axis=1), np.arange(12))
    off_diagonal = similarity[~np.eye(12, dtype=bool)]
    assert off_diagonal.max() < 0.9999


def test_encode_text_raises_clearly(encoder):
    with pytest.raises(ValueError, match="no text tower"):
        encoder.encode_text(["a red disk"])


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 32, 32, 3), dtype=np.float32),
        np.zeros((32, 32, 3), dtype=np.uint8),
        np.zeros((2, 32, 32, 4), dtype=np.uint8),
    ],
)
def test_rejects_non_rgb_uint8_batches(encoder, bad):
    with pytest.raises(ValueError, match=r"uint8|\[N,H,W,3\]"):
        encoder.encode_images(bad)


def test_version_encodes_parameters():
    base = ClassicalEncoder().version
    assert base == ClassicalEncoder().version
    assert ClassicalEncoder(ClassicalConfig(grid=(4, 4))).version != base
    assert ClassicalEncoder(ClassicalConfig(block_weights=(1.0, 0.5, 1.0))).version != base
    assert "classical" in base


def test_preset_matches_defaults_and_lists_become_tuples():
    from_preset = build_encoder("classical")
    assert from_preset.config == ClassicalConfig()
    assert isinstance(from_preset.config.grid, tuple)


@pytest.mark.parametrize(
    "field, value",
    [("width", 4), ("color_bins", (8, 3)), ("grid", (0, 3)), ("orientation_bins", 1), ("block_weights", (0, 0, 0))],
)
def test_config_checks(field, value):
    with pytest.raises(ValueError, match=field):
        ClassicalConfig(**{field: value})


def _smooth_scenes(n: int, seed: int = 0) -> np.ndarray:
    """``n`` unrelated 640x360 scenes of smooth colour (no bars, nothing alike)."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 6, 10, 3)).astype(np.float32)
    return np.stack([np.clip(cv2.resize(c, (640, 360), interpolation=cv2.INTER_CUBIC), 0, 255) for c in coarse]).astype(
        np.uint8
    )


def _in_window(frame: np.ndarray) -> np.ndarray:
    """The frame inside a grey window with a light title bar on a blue desktop (not black: no bars to cut)."""
    h, w = frame.shape[:2]
    out = np.full((h + 60, w + 70, 3), (40, 90, 140), np.uint8)
    out[25 : 25 + h, 30 : 40 + w] = 60
    out[25 : 25 + h, 35 : 35 + w] = frame
    out[5:25, 35 : 35 + w] = 225
    return out


def test_placed_similarity_finds_a_frame_from_its_crop_or_screenshot(encoder):
    scenes = _smooth_scenes(8)
    stored = encoder.encode_images(scenes)
    queries = {  # a 70 % crop (84 % of each side) at three places, and a screenshot
        "crop": [lambda f, x=x, y=y: f[y : y + 302, x : x + 538] for x, y in ((0, 0), (50, 28), (102, 57))],
        "window": [_in_window],
    }
    gains: dict[str, list[float]] = {}
    for kind, makers in queries.items():
        for i, frame in enumerate(scenes):
            for make in makers:
                query = make(frame)
                placed = encoder.placed_similarity(query, stored)
                plain = float(encoder.encode_images(query[None])[0] @ stored[i])
                assert int(np.argmax(placed)) == i, kind
                assert placed[i] >= 0.9, (kind, placed[i], plain)
                gains.setdefault(kind, []).append(placed[i] - plain)
                assert placed[i] - np.sort(placed)[-2] >= 0.1, kind
    assert np.mean(gains["crop"]) >= 0.1 and np.mean(gains["window"]) >= 0.03  # what the placements add


def test_placed_similarity_of_a_whole_frame_matches_its_cosine(encoder, make_clip_frames):
    frames = make_clip_frames(4)
    stored = encoder.encode_images(frames)
    for i, frame in enumerate(frames):
        placed = encoder.placed_similarity(frame, stored)
        assert placed.shape == (4,) and placed.dtype == np.float32
        assert placed[i] >= 0.95
        np.testing.assert_allclose(placed, stored @ stored[i], atol=0.25)  # same blocks; the thumbnail at 2x
