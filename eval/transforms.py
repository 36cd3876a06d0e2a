"""Image transformations people apply to a frame before asking for it (the needle benchmark's queries).

Each transformation is ``fn(image uint8 [H,W,3] RGB, rng) -> uint8 [h,w,3] RGB``; ``TRANSFORMS`` maps
names to them, alone and combined (``"crop70+scale320+jpeg30"``).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def letterbox(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black bars above and below: the picture now sits in a frame a third taller."""
    h, w = image.shape[:2]
    bar = max(4, h // 6)
    return cv2.copyMakeBorder(image, bar, bar, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def pillarbox(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Black bars left and right: the picture sits in a frame a third wider."""
    h, w = image.shape[:2]
    bar = max(4, w // 6)
    return cv2.copyMakeBorder(image, 0, 0, bar, bar, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def crop70(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crop keeping 70 % of the area (84 % of each side) at a random position."""
    h, w = image.shape[:2]
    ch, cw = round(h * 0.7**0.5), round(w * 0.7**0.5)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(image[y : y + ch, x : x + cw])


def scale320(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rescaled to 320 pixels wide (aspect kept)."""
    h, w = image.shape[:2]
    return cv2.resize(image, (320, max(8, round(h * 320 / w))), interpolation=cv2.INTER_AREA)


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, sigma 1.5 pixels."""
    return cv2.GaussianBlur(image, (0, 0), 1.5)


def jpeg30(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Saved as JPEG at quality 30 and read back."""
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def brightness(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brighter by 40 levels (clipped)."""
    return np.clip(image.astype(np.int16) + 40, 0, 255).astype(np.uint8)


def contrast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast scaled by 0.6 around mid-grey."""
    return np.clip((image.astype(np.float32) - 128) * 0.6 + 128, 0, 255).astype(np.uint8)


def saturation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Saturation scaled by 0.4 (a washed-out phone photo)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] *= 0.4
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def screenshot(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame inside an application window: grey title bar with buttons and a title, a frame, desktop."""
    h, w = image.shape[:2]
    title, edge, margin = max(14, h // 14), 2, max(8, w // 20)
    window = np.full((h + title + 2 * edge, w + 2 * edge, 3), 60, np.uint8)
    window[title + edge : title + edge + h, edge : edge + w] = image
    window[edge : title + edge - 1, edge : w + edge] = 225
    r = max(3, title // 4)
    for i, colour in enumerate(((230, 80, 70), (240, 190, 60), (90, 190, 90))):
        cv2.circle(window, (edge + 2 * r + i * 3 * r, edge + title // 2), r, colour, -1)
    cv2.putText(window, "frame.png - Viewer", (edge + 12 * r, edge + title - r), cv2.FONT_HERSHEY_SIMPLEX,
                title / 40, (40, 40, 40), 1, cv2.LINE_AA)  # fmt: skip
    desktop = np.empty((window.shape[0] + 2 * margin, window.shape[1] + 2 * margin, 3), np.uint8)
    desktop[:] = (40, 90, 140)
    desktop[margin : margin + window.shape[0], margin : margin + window.shape[1]] = window
    return desktop


SINGLE: dict[str, Transform] = {
    "letterbox": letterbox,
    "pillarbox": pillarbox,
    "crop70": crop70,
    "scale320": scale320,
    "blur1.5": blur,
    "jpeg30": jpeg30,
    "brightness": brightness,
    "contrast": contrast,
    "saturation": saturation,
    "screenshot": screenshot,
}

COMBINED = (
    "crop70+scale320+jpeg30",
    "letterbox+blur1.5+jpeg30",
    "screenshot+scale320+brightness",
    "pillarbox+crop70+contrast",
    "crop70+saturation",
)


def apply(name: str, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Applies ``"identity"``, one transformation or a ``+``-joined chain (left to right)."""
    if name == "identity":
        return image
    for part in name.split("+"):
        image = SINGLE[part](image, rng)
    return image


TRANSFORMS: tuple[str, ...] = ("identity", *SINGLE, *COMBINED)
