"""Frames with scene text of known words, for OCR tests and benchmarks.

Signs are drawn onto ``sample_video``'s busy scenes (textured background, a coloured object) at
640x360: a word or two, cap height 24-72 px, in several colour pairs, tilted, blurred, with or
without a plate behind them. Text-free frames are the same scenes without signs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORDS = (
    "TAXI EXIT HOTEL PHARMACY BAKERY STATION PLATFORM MUSEUM LIBRARY GARAGE HARBOR MARKET BRIDGE "
    "TUNNEL GARDEN THEATRE CINEMA POLICE SCHOOL BANK PARKING ENTRANCE KITCHEN OFFICE"
).split()
PLATES = ("KX 4821", "LP 4599", "USA 108", "GBR 77", "7B 2K9")
COLOURS = (  # (ink, plate) RGB
    ((0, 0, 0), (255, 255, 255)),
    ((255, 255, 255), (20, 60, 160)),
    ((250, 220, 40), (10, 10, 10)),
    ((10, 10, 10), (250, 200, 30)),
    ((200, 20, 20), (245, 245, 245)),
    ((255, 255, 255), (30, 120, 40)),
)
KINDS = ("plain", "small", "large", "colour", "tilt", "blur", "no plate", "plate number")
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)


@dataclass
class SignFrame:
    """A frame and the words drawn on it. ``image`` is ``uint8 [360,640,3]`` RGB."""

    image: np.ndarray
    words: list[str]
    kind: str


def scene_frames(n: int, seed: int = 0, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """``n`` text-free frames of ``sample_video`` scenes (``uint8 [H,W,3]`` RGB), no sign drawn."""
    from demos.sample_video import SampleManifest, plan_scenes, render_frame

    manifest = SampleManifest("", n * 10.0, 1.0, size, seed, plan_scenes(n * 10.0, 10.0, seed), burn_text=False)
    return [render_frame(manifest, 10.0 * i + 3.0) for i in range(n)]


def sign_frames(per_kind: int = 6, seed: int = 0) -> list[SignFrame]:
    """``per_kind`` frames of each kind in ``KINDS``, signs at random places on busy scenes."""
    rng = np.random.default_rng(seed)
    backgrounds = scene_frames(per_kind * len(KINDS), seed + 1)
    out = []
    for i, kind in enumerate(k for k in KINDS for _ in range(per_kind)):
        image = backgrounds[i].copy()
        words = _draw_sign(image, kind, rng)
        out.append(SignFrame(image, words, kind))
    return out


def _draw_sign(image: np.ndarray, kind: str, rng: np.random.Generator) -> list[str]:
    text = str(rng.choice(PLATES)) if kind == "plate number" else str(rng.choice(WORDS))
    cap = {"small": 24, "large": 72}.get(kind, int(rng.choice([32, 40, 48])))
    ink, plate = COLOURS[0] if kind in ("plain", "small", "large") else COLOURS[int(rng.integers(len(COLOURS)))]
    font = FONTS[int(rng.integers(len(FONTS)))]
    patch = _render(text, cap, ink, None if kind == "no plate" else plate, font)
    if kind == "tilt":
        patch = _rotate(patch, float(rng.choice([-1, 1]) * rng.uniform(8, 15)))
    _paste(image, patch, rng)
    if kind == "blur":
        cv2.GaussianBlur(image, (0, 0), 1.5, dst=image)
    return text.split()


def _render(text: str, cap: int, ink, plate, font: int) -> np.ndarray:
    """RGBA patch of ``text`` with letters ``cap`` px tall, on a plate (or with a dark outline)."""
    scale = cap / cv2.getTextSize("H", font, 1.0, 1)[0][1]
    thick = max(2, round(cap / 12))
    (w, h), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(6, cap // 3)
    rgb = np.zeros((h + base + 2 * pad, w + 2 * pad, 3), np.uint8)
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    org = (pad, pad + h)
    if plate is not None:
        rgb[:] = plate
        alpha[:] = 255
    else:  # text straight on the scene: an outline keeps it legible, as captions do
        cv2.putText(rgb, text, org, font, scale, (0, 0, 0), thick + 4, cv2.LINE_AA)
        cv2.putText(alpha, text, org, font, scale, 255, thick + 4, cv2.LINE_AA)
    cv2.putText(rgb, text, org, font, scale, ink, thick, cv2.LINE_AA)
    cv2.putText(alpha, text, org, font, scale, 255, thick, cv2.LINE_AA)
    return np.dstack([rgb, alpha])


def _rotate(patch: np.ndarray, degrees: float) -> np.ndarray:
    h, w = patch.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(patch, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))


def _paste(image: np.ndarray, patch: np.ndarray, rng: np.random.Generator) -> None:
    h, w = patch.shape[:2]
    if h > image.shape[0] or w > image.shape[1]:
        scale = min(image.shape[0] / h, image.shape[1] / w) * 0.95
        patch = cv2.resize(patch, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = patch.shape[:2]
    y = int(rng.integers(0, image.shape[0] - h + 1))
    x = int(rng.integers(0, image.shape[1] - w + 1))
    a = patch[:, :, 3:4].astype(np.float32) / 255.0
    region = image[y : y + h, x : x + w].astype(np.float32)
    image[y : y + h, x : x + w] = (a * patch[:, :, :3] + (1 - a) * region).round().astype(np.uint8)
