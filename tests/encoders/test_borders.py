"""Black-border removal and ORB verification on generated pictures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from encoders.borders import content_box, crop_borders
from encoders.classical import ClassicalConfig, ClassicalEncoder
from encoders.local_features import LocalFeatureConfig, LocalFeatures


def _picture(h: int = 180, w: int = 320, seed: int = 0) -> np.ndarray:
    """A textured RGB picture with blobs and edges (corners for ORB), no flat dark rows or columns."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    image = (0.6 * noise + 60).astype(np.uint8)
    for _ in range(25):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(image, (x, y), (x + int(rng.integers(8, 40)), y + int(rng.integers(8, 40))), colour, -1)
    return image


def test_letterbox_and_pillarbox_are_found_exactly():
    pic = _picture()
    boxed = cv2.copyMakeBorder(pic, 30, 30, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    assert content_box(boxed) == (30, 210, 0, 320)
    both = cv2.copyMakeBorder(pic, 12, 12, 40, 40, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    assert content_box(both) == (12, 192, 40, 360)
    assert crop_borders(both).shape == pic.shape


def test_bars_still_found_after_brightness_and_jpeg():
    pic = _picture()
    boxed = cv2.copyMakeBorder(pic, 0, 0, 50, 50, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    brighter = np.clip(boxed.astype(np.int16) + 40, 0, 255).astype(np.uint8)  # bars become dark grey
    ok, data = cv2.imencode(".jpg", brighter, [cv2.IMWRITE_JPEG_QUALITY, 30])
    y0, y1, x0, x1 = content_box(cv2.imdecode(data, cv2.IMREAD_COLOR))
    assert (y0, y1) == (0, 180)
    assert abs(x0 - 50) <= 3 and abs(x1 - 370) <= 3


def test_pictures_without_bars_and_dark_frames_are_left_whole():
    pic = _picture()
    assert content_box(pic) == (0, 180, 0, 320)
    dark = np.full((180, 320, 3), 5, np.uint8)
    assert content_box(dark) == (0, 180, 0, 320)  # nothing but "bars": not cut to a sliver
    textured_dark = pic // 6  # a dark scene with texture is content, not a bar
    assert content_box(textured_dark) == (0, 180, 0, 320)


def test_classical_vector_ignores_bars_and_old_version_is_kept_apart():
    pic = _picture(seed=1)
    boxed = cv2.copyMakeBorder(pic, 40, 40, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    enc = ClassicalEncoder()
    a, b = enc.encode_images(np.stack([pic])), enc.encode_images(np.stack([boxed]))
    assert float(a[0] @ b[0]) > 0.99
    old = ClassicalEncoder(ClassicalConfig(crop_borders=False))
    assert float(old.encode_images(pic[None])[0] @ old.encode_images(boxed[None])[0]) < 0.97
    assert old.version != enc.version and enc.version.endswith(":nobars")


@pytest.mark.parametrize("change", ["crop", "small", "screenshot"])
def test_orb_inliers_tell_the_same_picture_from_another(change):
    features = LocalFeatures()
    pic, other = _picture(seed=2), _picture(seed=3)
    stored = features.describe(pic)
    assert len(stored[1]) == LocalFeatureConfig().stored
    if change == "crop":
        query = pic[15:165, 30:300]
    elif change == "small":
        query = cv2.resize(pic, (200, 112), interpolation=cv2.INTER_AREA)
    else:
        query = cv2.copyMakeBorder(pic, 24, 6, 6, 6, cv2.BORDER_CONSTANT, value=(200, 200, 200))
    q = features.describe(query, 400)
    same = features.inliers(q, stored)
    assert same >= 20
    assert features.inliers(q, features.describe(other)) < same / 2
