"""Finding text lines in a video frame: rows of letter-like stroke marks.

OCR (``vidmem.text.ocr``) uses it as a cheap text-presence test before its learned detector, and
the Tesseract baseline (``eval/ocr_baseline.py``) reads only the lines it finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vidmem.text.ocr import OCRConfig


@dataclass(frozen=True)
class TextLine:
    """A place in an image that looks like a line of text.

    Attributes:
        x0, y0, x1, y1: the box, image pixels (``x1``/``y1`` exclusive).
        dark: dark strokes on lighter ground (else light on darker ground).
        chars: about how many letters it was chained from.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    dark: bool
    chars: int


def find_text_lines(gray: np.ndarray, config: OCRConfig | None = None) -> list[TextLine]:
    """Candidate text lines: chains of stroke-like marks of similar height, side by side.

    Strokes are thin structures much brighter (top-hat) or darker (black-hat) than what is around
    them, which is what signs, captions and slides are made of, whatever the background; a busy
    background gives marks too, but rarely a row of similar ones. The search runs on the image
    scaled to ``config.min_height`` rows and on two smaller pyramid levels (for large letters).

    Args:
        gray: ``uint8 [H,W]``.
        config: OCR settings (``min_height``, ``max_upscale``, ``min_stroke_contrast``, ``max_lines``).

    Returns:
        The lines of the ``config.max_lines`` places (overlapping lines: both polarities, several
        levels) with the longest chains, at most twice that many, longest chains first.
    """
    import cv2

    if config is None:
        from vidmem.text.ocr import OCRConfig

        config = OCRConfig()
    height = gray.shape[0]
    scale = min(config.max_upscale, config.min_height / height)
    work = gray
    if scale != 1:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        work = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
    work = cv2.medianBlur(work, 3)  # speckle noise and compression mosquitoes are not strokes
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_STROKE_KERNEL, _STROKE_KERNEL))
    lines: list[TextLine] = []
    image = work
    for level in range(3):
        if level:
            image = cv2.pyrDown(image)
        factor = image.shape[0] / height  # image pixels per original pixel
        # A top-hat loses strokes wider than its kernel, and strokes widen with letter size, so
        # each level of the pyramid looks for letters in its own range of heights.
        low = _MIN_CHAR_HEIGHT if level == 0 else 1.5 * _STROKE_KERNEL
        high = 3 * _STROKE_KERNEL if level < 2 else 0.45 * image.shape[0]
        for dark in (True, False):
            op = cv2.MORPH_BLACKHAT if dark else cv2.MORPH_TOPHAT
            strokes = cv2.morphologyEx(image, op, kernel) >= config.min_stroke_contrast
            for x0, y0, x1, y1, chars in _chain(_char_boxes(strokes, low, high)):
                box = int(x0 / factor), int(y0 / factor), int(np.ceil(x1 / factor)), int(np.ceil(y1 / factor))
                lines.append(TextLine(*box, dark=dark, chars=chars))
    if not lines:
        return []
    lines = _settle_polarity(gray, lines)
    # Where the polarity stays open (outlined letters) both readings are tried: keep every line
    # of the best places rather than the best lines.
    clash = np.argwhere(np.triu(clashes(lines), 1))
    places = sorted(groups(len(lines), clash), key=lambda group: -max(lines[i].chars for i in group))
    kept = [lines[i] for group in places[: config.max_lines] for i in group]
    kept.sort(key=lambda line: (-line.chars, -(line.y1 - line.y0)))
    return kept[: 2 * config.max_lines]


def _settle_polarity(gray: np.ndarray, lines: list[TextLine]) -> list[TextLine]:
    """One box per text row, with the polarities worth reading it in.

    Dark letters also give light "lines" (the ground showing between them), outlined letters
    give both, and pieces of one row can be found separately: overlapping lines of similar
    height on one row become one box (spanning them all). The margin around that box is
    ground: if it is plain, and the box holds pixels clearly darker than it but hardly any
    clearly brighter (or the reverse), the polarity is settled; otherwise (outlined letters, a
    busy background) the box is read in each polarity it was found with.
    """
    rows = np.array([[line.x0, line.y0, line.x1, line.y1] for line in lines], np.float64)
    h = rows[:, 3] - rows[:, 1]
    lo = np.minimum.outer(h, h)
    overlap_y = np.minimum.outer(rows[:, 3], rows[:, 3]) - np.maximum.outer(rows[:, 1], rows[:, 1])
    same = clashes(lines) & (np.maximum.outer(h, h) <= 1.5 * lo) & (overlap_y >= 0.6 * lo)
    # Each group is one line (the longest chain not yet taken) and what is "same" as it: no
    # chaining from line to line, which could grow a box over a whole sign or slide.
    groups, taken = [], np.zeros(len(lines), bool)
    for seed in sorted(range(len(lines)), key=lambda i: -lines[i].chars):
        if not taken[seed]:
            members = np.flatnonzero(~taken & (same[seed] | (np.arange(len(lines)) == seed)))
            taken[members] = True
            groups.append(members)
    settled = []
    for members in groups:
        x0, y0 = int(rows[members, 0].min()), int(rows[members, 1].min())
        x1, y1 = int(rows[members, 2].max()), int(rows[members, 3].max())
        polarities = {lines[i].dark for i in members}
        pad_y, pad_x = int(0.3 * (y1 - y0)) + 2, int(0.4 * (y1 - y0)) + 2
        top, left = max(0, y0 - pad_y), max(0, x0 - pad_x)
        crop = gray[top : y1 + pad_y, left : x1 + pad_x]
        margin = np.ones(crop.shape, bool)
        margin[y0 - top : y1 - top, x0 - left : x1 - left] = False
        ground = crop[margin].astype(np.float32)
        if ground.size and float(ground.std()) <= _PLAIN_GROUND_STD:
            level, delta = float(np.median(ground)), max(10.0, 3 * float(ground.std()))
            inside = crop[~margin].astype(np.float32)
            darker, brighter = float((inside < level - delta).mean()), float((inside > level + delta).mean())
            if min(darker, brighter) < 0.03 <= max(darker, brighter):  # ink on one side only: not outlined
                polarities = {darker > brighter}
        chars = max(lines[i].chars for i in members)
        for dark in sorted(polarities):
            # Rows from the lines found in this polarity (a line of the ground between letters can be taller).
            own = [i for i in members if lines[i].dark == dark] or list(members)
            settled.append(TextLine(x0, int(rows[own, 1].min()), x1, int(rows[own, 3].max()), dark=dark, chars=chars))
    return settled


_PLAIN_GROUND_STD = 20  # grey-level spread of a plain ground (a box, a slide, a sky)


def clashes(lines: list[TextLine]) -> np.ndarray:
    """``[N,N]`` bool: lines whose boxes overlap by half the smaller box or more (one place)."""
    boxes = np.array([[line.x0, line.y0, line.x1, line.y1] for line in lines], np.float64)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inter = np.maximum(0, np.minimum.outer(boxes[:, 2], boxes[:, 2]) - np.maximum.outer(boxes[:, 0], boxes[:, 0]))
    inter *= np.maximum(0, np.minimum.outer(boxes[:, 3], boxes[:, 3]) - np.maximum.outer(boxes[:, 1], boxes[:, 1]))
    return inter >= 0.5 * np.minimum.outer(area, area)


_STROKE_KERNEL = 15  # top-/black-hat size at ``min_height`` rows: strokes up to ~14 px wide
_MIN_CHAR_HEIGHT = 7


def _char_boxes(strokes: np.ndarray, low: float, high: float) -> np.ndarray:
    """Boxes ``[N,5]`` (x, y, w, h, letters) of connected stroke marks shaped like characters.

    A mark is one letter, or several touching ones (small bold text): ``letters`` estimates how
    many from its width.
    """
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(strokes.astype(np.uint8), connectivity=8)
    x, y, w, h, area = stats[1:].T
    fill = area / np.maximum(w * h, 1)
    letter = (w <= 2.5 * h) & (fill >= 0.12)
    touching = (w > 2.5 * h) & (w <= 15 * h) & (fill >= 0.25) & (fill <= 0.8)
    keep = (h >= low) & (h <= high) & (area >= 10) & (letter | touching)
    keep &= ~((fill > 0.85) & (w > 0.4 * h))  # solid blobs are not letters
    letters = np.maximum(1, np.round(w / (0.7 * h))).astype(stats.dtype)
    return np.column_stack([stats[1:, :4], letters])[keep]


def _chain(boxes: np.ndarray) -> list[tuple[float, float, float, float, int]]:
    """Groups character boxes into lines: similar heights, overlapping rows, small gaps.

    Args:
        boxes: ``[N,5]`` from ``_char_boxes``.

    Returns:
        ``(x0, y0, x1, y1, letters)`` per line.
    """
    if len(boxes) == 0:
        return []
    x, y, w, h, letters = (boxes[:, i].astype(np.float32) for i in range(5))
    words = []
    for members in groups(len(boxes), _side_by_side(x, y, x + w, y + h, h, max_gap=1.2)):
        x0, y0, x1, y1 = x[members].min(), y[members].min(), (x + w)[members].max(), (y + h)[members].max()
        char_h = float(np.median(h[members]))
        # A word is two or more marks, or one wide mark (letters touching each other).
        if (len(members) >= 2 or x1 - x0 >= 2 * char_h) and x1 - x0 >= 1.2 * char_h:
            words.append((x0, y0, x1, y1, char_h, letters[members].sum()))
    if not words:
        return []
    # Words on one row join into a line even across a wider gap (a letter lost to the background).
    wx0, wy0, wx1, wy1, wh, wn = (np.array(col, np.float32) for col in zip(*words, strict=True))
    return [
        (float(wx0[m].min()), float(wy0[m].min()), float(wx1[m].max()), float(wy1[m].max()), int(wn[m].sum()))
        for m in groups(len(words), _side_by_side(wx0, wy0, wx1, wy1, wh, max_gap=2.0))
    ]


def _side_by_side(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, h: np.ndarray, max_gap: float
) -> np.ndarray:
    """Pairs ``[K,2]`` (i < j) of boxes of similar height ``h`` on one row, at most ``max_gap`` heights apart.

    Computed a block of rows at a time, so a frame full of marks does not need an ``N x N`` matrix.
    """
    pairs = [np.zeros((0, 2), np.int64)]
    for start in range(0, len(h), 512):
        rows = slice(start, start + 512)
        hi, lo = np.maximum.outer(h[rows], h), np.minimum.outer(h[rows], h)
        overlap_y = np.minimum.outer(y1[rows], y1) - np.maximum.outer(y0[rows], y0)
        gap = np.maximum.outer(x0[rows], x0) - np.minimum.outer(x1[rows], x1)
        linked = (hi <= 1.8 * lo) & (overlap_y >= 0.5 * lo) & (gap <= max_gap * hi) & (gap >= -0.5 * lo)
        i, j = np.nonzero(linked)
        i += start
        pairs.append(np.stack([i, j], axis=1)[i < j])
    return np.concatenate(pairs)


def groups(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected components of ``n`` nodes joined by ``pairs`` ``[K,2]``, as index arrays."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs.tolist():
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [np.asarray(members) for members in groups.values()]


def gray_image(image: np.ndarray) -> np.ndarray:
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"OCR wants uint8 [H,W,3] RGB, got {image.dtype} {list(image.shape)}")
    image = np.ascontiguousarray(image)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
