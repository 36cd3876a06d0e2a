"""A training-free visual descriptor: colour, edges and layout in a few hundred numbers.

The offline visual default: no weights, no torch, fast enough to run beside video decoding.
Each frame is shrunk to ``width`` pixels, then described by three blocks:

- colour: an HSV histogram with coarse bins (where the scene's colours are, not where they sit),
- edges: magnitude-weighted gradient-orientation histograms on a small spatial grid (structure),
- layout: a tiny grayscale thumbnail, mean-centred (where light and dark sit).

Each block is square-rooted (histograms), L2-normalised and weighted; the concatenation is
L2-normalised again, so a cosine is a weighted mean of the three block cosines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from encoders.base import ENCODERS, l2_normalize
from encoders.borders import content_box

_DESCRIPTOR_VERSION = 1
_CHUNK = 8  # frames described together
CROP_SCALES = (0.84, 0.7)
"""Sides of a stored frame a cropped query may show (0.84: a 70 % crop; 0.7: half the area)."""
BORDER_SCALES = (0.92, 0.84)
"""Sides of a query that may be the whole stored frame (a screenshot's window and desktop around it)."""
PLACEMENTS = 3
"""Positions per axis tried for each scale (both ends and the middle)."""


@dataclass(frozen=True)
class ClassicalConfig:
    """Parameters of the classical descriptor.

    Attributes:
        name: registered or preset name.
        width: frames are resized to this width (aspect kept) before anything else.
        color_bins: HSV histogram bins (hue, saturation, value).
        orientation_bins: unsigned gradient-orientation bins per grid cell.
        grid: edge-histogram grid (columns, rows).
        thumb: grayscale thumbnail size (width, height).
        block_weights: weights of the blocks (colour, edges, thumbnail).
        crop_borders: describe only what lies inside black bars (letterbox, pillarbox), so a
            frame with bars and the same picture without them get the same vector.
    """

    name: str = "classical"
    width: int = 128
    color_bins: tuple[int, int, int] = (8, 3, 3)
    orientation_bins: int = 8
    grid: tuple[int, int] = (3, 3)
    thumb: tuple[int, int] = (16, 12)
    block_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop_borders: bool = True

    def __post_init__(self) -> None:
        # YAML gives lists; keep the config hashable and comparable.
        for field in ("color_bins", "grid", "thumb", "block_weights"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        if not 16 <= self.width <= 1024:
            raise ValueError(f"width must be in [16, 1024], got {self.width}")
        if len(self.color_bins) != 3 or not all(1 <= b <= 64 for b in self.color_bins):
            raise ValueError(f"color_bins must be three ints in [1, 64], got {self.color_bins}")
        if not 2 <= self.orientation_bins <= 36:
            raise ValueError(f"orientation_bins must be in [2, 36], got {self.orientation_bins}")
        if len(self.grid) != 2 or not all(1 <= g <= 16 for g in self.grid):
            raise ValueError(f"grid must be two ints in [1, 16], got {self.grid}")
        if len(self.thumb) != 2 or not all(1 <= t <= 64 for t in self.thumb):
            raise ValueError(f"thumb must be two ints in [1, 64], got {self.thumb}")
        if len(self.block_weights) != 3 or any(w < 0 for w in self.block_weights) or not any(self.block_weights):
            raise ValueError(
                f"block_weights must be three non-negative numbers, not all zero, got {self.block_weights}"
            )


class ClassicalEncoder:
    """Colour histogram + gradient-orientation grid + thumbnail, as one unit vector per frame.

    Args:
        config: descriptor parameters.

    Attributes:
        dim: ``prod(color_bins) + grid_cols * grid_rows * orientation_bins + thumb_w * thumb_h``
            (336 with the defaults).
    """

    has_text = False

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()
        c = self.config
        self.name = c.name
        self._sizes = (
            math.prod(c.color_bins),
            c.grid[0] * c.grid[1] * c.orientation_bins,
            c.thumb[0] * c.thumb[1],
        )
        self.dim = sum(self._sizes)
        weights = "x".join(f"{w:g}" for w in c.block_weights)
        self.version = (
            f"classical-v{_DESCRIPTOR_VERSION}:w{c.width}:hsv{'x'.join(map(str, c.color_bins))}"
            f":grid{c.grid[0]}x{c.grid[1]}o{c.orientation_bins}:thumb{c.thumb[0]}x{c.thumb[1]}:wt{weights}"
        ) + (":nobars" if c.crop_borders else "")

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """Describes a batch of frames.

        Args:
            images: ``uint8 [N,H,W,3]`` RGB frames, all the same size.

        Returns:
            ``float32 [N,D]`` unit rows (a flat grey frame still gets a unit row from its colour block).
        """
        images = _check_images(images)
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(images), self.dim), dtype=np.float32)
        # Small chunks keep every intermediate array in cache: about 4x faster than one big batch.
        for start in range(0, len(images), _CHUNK):
            out[start : start + _CHUNK] = self._describe(images[start : start + _CHUNK])
        return out

    def _describe(self, images: np.ndarray) -> np.ndarray:
        """``uint8 [n,H,W,3]`` -> ``float32 [n,D]`` unit rows."""
        small = self._shrink(images)
        if self.config.crop_borders:
            _, h, w, _ = small.shape
            boxes = [content_box(frame) for frame in small]
            if any(box != (0, h, 0, w) for box in boxes):  # frames with bars are described one by one
                return np.concatenate(
                    [
                        self._describe_small(np.ascontiguousarray(f[None, y0:y1, x0:x1]))
                        for f, (y0, y1, x0, x1) in zip(small, boxes, strict=True)
                    ]
                )
        return self._describe_small(small)

    def _describe_small(self, small: np.ndarray) -> np.ndarray:
        """``uint8 [n,h,w,3]`` already shrunk -> ``float32 [n,D]`` unit rows."""
        blocks = (self._color_block(small), self._edge_block(small), self._thumb_block(small))
        weighted = [w * l2_normalize(b) for w, b in zip(self.config.block_weights, blocks, strict=True)]
        return l2_normalize(np.concatenate(weighted, axis=1))

    def placed_similarity(self, image: np.ndarray, stored: np.ndarray) -> np.ndarray:
        """Cosines of one query picture to stored frame vectors that allow crops and borders.

        A crop of a frame (a 70 % crop shows 84 % of its width and height) or a screenshot (the
        frame inside a window) moves every part of the thumbnail, and the plain cosine drops
        below look-alike footage's. Here the colour and edge blocks compare as in the plain
        cosine, and the thumbnail compares over placements: the query as a part of the stored
        frame (``CROP_SCALES`` of its sides, at ``PLACEMENTS`` x ``PLACEMENTS`` positions) and a
        part of the query as the stored frame (``BORDER_SCALES``); the best placement counts
        (the whole frame is one of them). Each thumbnail is compared at twice its stored size,
        bilinearly, so a placement need not fall on its cells.

        Args:
            image: ``uint8 [H,W,3]`` RGB query.
            stored: ``float [N, dim]`` unit vectors this encoder made of single frames.

        Returns:
            ``float32 [N]``, a weighted mean of block cosines like ``encode_images(...) @ stored.T``.
        """
        import cv2

        small = self._shrink(_check_images(image[None]))[0]
        if self.config.crop_borders:
            y0, y1, x0, x1 = content_box(small)
            small = np.ascontiguousarray(small[y0:y1, x0:x1])
        colour, edges = (l2_normalize(b)[0] for b in (self._color_block(small[None]), self._edge_block(small[None])))
        stored = np.asarray(stored, np.float32)
        c0, c1 = self._sizes[0], self._sizes[0] + self._sizes[1]
        cosines = [l2_normalize(stored[:, :c0]) @ colour, l2_normalize(stored[:, c0:c1]) @ edges]
        tw, th = self.config.thumb
        thumbs = l2_normalize(stored[:, c1:]).reshape(-1, th, tw)
        big = _upsample2(cv2, thumbs)  # [N, 2th, 2tw]
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        best = np.full(len(stored), -1.0, np.float32)
        for scale in (1.0, *CROP_SCALES):  # the query shows part of the stored frame
            w, h = max(2, round(2 * tw * scale)), max(2, round(2 * th * scale))
            query = _centred(cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA).reshape(1, -1))[0]
            for y, x in _offsets(2 * th - h, 2 * tw - w):
                best = np.maximum(best, _centred(big[:, y : y + h, x : x + w].reshape(len(big), -1)) @ query)
        whole = _centred(big.reshape(len(big), -1))
        gh, gw = gray.shape
        for scale in BORDER_SCALES:  # part of the query is the stored frame
            w, h = max(2, round(gw * scale)), max(2, round(gh * scale))
            for y, x in _offsets(gh - h, gw - w):
                part = cv2.resize(gray[y : y + h, x : x + w], (2 * tw, 2 * th), interpolation=cv2.INTER_AREA)
                best = np.maximum(best, whole @ _centred(part.reshape(1, -1))[0])
        weights = np.square(np.asarray(self.config.block_weights, np.float32))
        return (weights[0] * cosines[0] + weights[1] * cosines[1] + weights[2] * best) / weights.sum()

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Always raises: the descriptor has no text space."""
        raise ValueError(
            f"encoder {self.name!r} (classical descriptor) has no text tower: it cannot embed text. "
            "Use an encoder with has_text=True (an open_clip preset such as 'clip-b32') for text-to-image "
            "search, or a text encoder (build_text_encoder('minilm')) for text-to-text search."
        )

    def _shrink(self, images: np.ndarray) -> np.ndarray:
        """``uint8 [N,H,W,3]`` -> ``uint8 [N,h,width,3]`` with the aspect ratio kept."""
        import cv2

        n, h, w, _ = images.shape
        width = min(self.config.width, w)
        height = max(8, round(h * width / w))
        if (height, width) == (h, w):
            return images
        out = np.empty((n, height, width, 3), dtype=np.uint8)
        for i in range(n):
            frame = images[i]
            # Exact 2x bilinear steps average 2x2 blocks (a box filter, no aliasing) at a fraction of
            # INTER_AREA's cost on big frames; INTER_AREA finishes the last, smaller-than-2x step.
            while frame.shape[1] >= 2 * width and frame.shape[0] >= 2 * height:
                half = (frame.shape[1] // 2, frame.shape[0] // 2)
                frame = cv2.resize(frame, half, interpolation=cv2.INTER_LINEAR)
            cv2.resize(frame, (width, height), dst=out[i], interpolation=cv2.INTER_AREA)
        return out

    def _color_block(self, small: np.ndarray) -> np.ndarray:
        """``uint8 [N,h,w,3]`` -> ``float32 [N, hb*sb*vb]`` square-rooted HSV histograms."""
        import cv2

        n, h, w, _ = small.shape
        # One cvtColor call over the whole batch stacked as a tall image: a per-pixel op, no seams.
        hsv = cv2.cvtColor(small.reshape(n * h, w, 3), cv2.COLOR_RGB2HSV).reshape(n, h * w, 3)
        hb, sb, vb = self.config.color_bins
        hue = hsv[..., 0].astype(np.int32) * hb // 180  # OpenCV 8-bit hue is in [0, 180)
        sat = hsv[..., 1].astype(np.int32) * sb // 256
        val = hsv[..., 2].astype(np.int32) * vb // 256
        bins = hb * sb * vb
        index = (hue * sb + sat) * vb + val + (np.arange(n, dtype=np.int32) * bins)[:, None]
        hist = np.bincount(index.ravel(), minlength=n * bins).reshape(n, bins).astype(np.float32)
        return np.sqrt(hist / (h * w))

    def _edge_block(self, small: np.ndarray) -> np.ndarray:
        """``uint8 [N,h,w,3]`` -> ``float32 [N, cells*bins]`` square-rooted orientation histograms."""
        import cv2

        n, h, w, _ = small.shape
        # Gradients over the batch stacked as one tall image; the rows where neighbouring frames meet
        # are border rows, whose weight is zeroed below, so no gradient crosses two frames.
        gray = cv2.cvtColor(small.reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=1)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=1)
        magnitude, angle = cv2.cartToPolar(gx, gy)  # angle in [0, 2 pi)
        framed = magnitude.reshape(n, h, w)
        framed[:, [0, -1], :] = 0.0
        framed[:, :, [0, -1]] = 0.0
        bins = self.config.orientation_bins
        # Unsigned orientation (pi-periodic), split linearly between the two nearest bins so that a
        # small rotation moves weight smoothly instead of flipping a bin; the lookup table folds
        # [0, 2 pi) onto the bins without a float modulo.
        position = angle * np.float32(bins / np.pi) - np.float32(0.5)
        low = np.floor(position)
        high_weight = magnitude * (position - low)
        low_index = low.astype(np.int32) + 1  # floor + 1, in [0, 2 * bins]
        fold = (np.arange(2 * bins + 2, dtype=np.int32) - 1) % bins  # fold[i] = (i - 1) mod bins
        cols, rows = self.config.grid
        cell = (np.arange(h) * rows // h)[:, None] * cols + (np.arange(w) * cols // w)[None, :]
        cells = cols * rows
        base = ((np.arange(n, dtype=np.int32)[:, None, None] * cells + cell[None]) * bins).reshape(n * h, w)
        total = n * cells * bins
        hist = np.bincount((base + fold[low_index]).ravel(), (magnitude - high_weight).ravel(), minlength=total)
        hist += np.bincount((base + fold[low_index + 1]).ravel(), high_weight.ravel(), minlength=total)
        return np.sqrt(hist.reshape(n, cells * bins) / ((h - 2) * (w - 2))).astype(np.float32)

    def _thumb_block(self, small: np.ndarray) -> np.ndarray:
        """``uint8 [N,h,w,3]`` -> ``float32 [N, tw*th]`` mean-centred grayscale thumbnails."""
        import cv2

        tw, th = self.config.thumb
        n = len(small)
        thumbs = np.empty((n, th, tw), dtype=np.float32)
        for i in range(n):
            gray = cv2.cvtColor(small[i], cv2.COLOR_RGB2GRAY)
            thumbs[i] = cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA)
        flat = thumbs.reshape(n, -1)
        return flat - flat.mean(axis=1, keepdims=True)


def _check_images(images: np.ndarray) -> np.ndarray:
    """Validates a ``uint8 [N,H,W,3]`` batch."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array uint8 [N,H,W,3], got {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N,H,W,3] RGB, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {images.dtype}")
    if images.shape[1] < 3 or images.shape[2] < 3:
        raise ValueError(f"images must be at least 3x3 pixels, got {images.shape[1]}x{images.shape[2]}")
    return np.ascontiguousarray(images)


ENCODERS.register("classical", ClassicalConfig)(ClassicalEncoder)


def _offsets(spare_y: int, spare_x: int) -> list[tuple[int, int]]:
    """``PLACEMENTS`` x ``PLACEMENTS`` (y, x) corners of a window with this much room each way."""
    ys = np.unique(np.linspace(0, max(0, spare_y), PLACEMENTS).round().astype(int))
    xs = np.unique(np.linspace(0, max(0, spare_x), PLACEMENTS).round().astype(int))
    return [(int(y), int(x)) for y in ys for x in xs]


def _centred(rows: np.ndarray) -> np.ndarray:
    """Rows minus their mean, scaled to unit length (flat rows stay zero)."""
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def _upsample2(cv2, thumbs: np.ndarray) -> np.ndarray:
    """``[N,h,w]`` -> ``[N,2h,2w]`` bilinear, up to 128 thumbnails per resize (as channels, the most OpenCV takes)."""
    n, h, w = thumbs.shape
    out = np.empty((n, 2 * h, 2 * w), np.float32)
    for start in range(0, n, 128):
        part = np.ascontiguousarray(thumbs[start : start + 128].transpose(1, 2, 0))
        up = cv2.resize(part, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        out[start : start + 128] = up.reshape(2 * h, 2 * w, -1).transpose(2, 0, 1)
    return out
