"""Black borders (letterbox, pillarbox, windowbox) found and cut off before a frame is described.

The same picture reaches vidmem with and without bars: a 2.35:1 film inside a 16:9 video, a
screenshot of the film alone, a 4:3 clip pillarboxed by an editor. Describing only what is inside
the bars makes all of them look alike. Used at ingest and at query time alike.

A bar is a run of edge rows (or columns) that are flat and dark: standard deviation below
``FLAT_STD`` and mean luma within ``DARK_MARGIN`` of the image's darkest level and below
``DARK_MAX``. Relative darkness keeps bars recognisable after a brightness or contrast shift
(black bars become dark grey); flatness keeps dark textured content. A box smaller than
``MIN_KEEP`` of either side means the frame is mostly dark, and nothing is cut.
"""

from __future__ import annotations

import numpy as np

FLAT_STD = 8.0
DARK_MARGIN = 18.0
DARK_MAX = 90.0
MIN_KEEP = 0.3


def content_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """The part of ``image`` inside its dark borders.

    Args:
        image: ``uint8 [H,W,3]`` RGB or ``uint8 [H,W]`` grey.

    Returns:
        ``(y0, y1, x0, x1)``: rows ``y0:y1`` and columns ``x0:x1`` hold the picture (the whole
        image when it has no bars).
    """
    gray = _luma(image)
    h, w = gray.shape
    edges = (gray[0], gray[-1], gray[:, 0], gray[:, -1])
    if not any(line.std() < FLAT_STD and line.mean() < DARK_MAX for line in edges):
        return 0, h, 0, w  # the common case, decided from four lines
    darkest = float(np.percentile(gray[:: max(1, h // 64), :: max(1, w // 64)], 1))
    limit = min(DARK_MAX, darkest + DARK_MARGIN)
    y0, y1 = _span(gray, limit)
    x0, x1 = _span(gray[y0:y1].T, limit)
    y0b, y1b = _span(gray[:, x0:x1], limit)  # rows again, now without the side bars
    y0, y1 = max(y0, y0b), min(y1, y1b)
    if y1 - y0 < MIN_KEEP * h or x1 - x0 < MIN_KEEP * w:
        return 0, h, 0, w
    return y0, y1, x0, x1


def crop_borders(image: np.ndarray) -> np.ndarray:
    """``image`` (``uint8 [H,W,3]``) without its dark borders (a view, not a copy)."""
    y0, y1, x0, x1 = content_box(image)
    return image[y0:y1, x0:x1]


def _luma(image: np.ndarray) -> np.ndarray:
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return gray.astype(np.float32)


def _span(gray: np.ndarray, limit: float) -> tuple[int, int]:
    """First and past-last row of ``gray`` (``float [R,C]``) that is not a bar row."""
    bar = (gray.std(axis=1) < FLAT_STD) & (gray.mean(axis=1) < limit)
    if bar.all():
        return 0, len(bar)
    content = np.flatnonzero(~bar)
    return int(content[0]), int(content[-1]) + 1
