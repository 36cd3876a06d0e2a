"""The former on-screen text reader, kept as the baseline ``vidmem bench senses`` compares rapidocr with.

Tesseract on a whole video frame mostly reads nothing (or texture as junk), so text lines are
found first (``vidmem.text.text_lines``, the same line finder the product uses as its cheap
text-presence test), cut out, redrawn as black ink on white, stacked on one sheet and read by one
Tesseract run (one OpenMP thread). rapidocr replaced it in ingest: on generated signs and on the
real videos it read as much or more everywhere (tilted text, plates, text without a plate behind
it; see the README's figures). It needs the ``tesseract`` program (Debian ``tesseract-ocr``),
which the project no longer installs: the benchmark reports the baseline as unavailable without it.
"""

from __future__ import annotations

import bisect
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from vidmem.errors import TextInputError
from vidmem.text.text_lines import TextLine, clashes, find_text_lines, gray_image, groups

_INSTALL_HINT = "install it with `apt-get install tesseract-ocr tesseract-ocr-eng`"


@dataclass(frozen=True)
class TesseractConfig:
    """How to run OCR.

    Attributes:
        lang: Tesseract language data, ``+``-joined (``eng``, ``eng+deu``).
        psm: page segmentation mode Tesseract reads the sheet of line crops with; 11 ("sparse
            text") keeps it from joining crops into paragraphs.
        min_confidence: words Tesseract is less sure of (0..100) are dropped.
        min_short_word_confidence: the same for words of fewer than 4 letters or digits, which
            is what texture is mostly misread as (real short words read at 94-96 in tests).
        min_word_len: words with fewer letters or digits than this are dropped; single letters
            and runs of dashes are mostly texture read as text.
        min_height: text is searched for in the image scaled to this many rows (letters 7 to
            ~160 pixels tall at that size are found).
        max_upscale: the largest upscale factor applied to reach ``min_height``.
        min_stroke_contrast: grey levels a stroke must stand out from its surroundings by.
        max_lines: the most places (candidate text lines) read per image; more cost time.
        line_height: pixel height letters are scaled to for Tesseract.
        tesseract_cmd: the program to run, a name on PATH or a path.
        timeout_s: seconds before one image is given up (it then reads as no text).
    """

    lang: str = "eng"
    psm: int = 11
    min_confidence: float = 75.0
    min_short_word_confidence: float = 92.0
    min_word_len: int = 2
    min_height: int = 360
    max_upscale: float = 3.0
    min_stroke_contrast: int = 60
    max_lines: int = 12
    line_height: int = 40
    tesseract_cmd: str = "tesseract"
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.lang or any(not part for part in self.lang.split("+")):
            raise ValueError(f"OCR lang must be like 'eng' or 'eng+deu', got {self.lang!r}")
        if not 0 <= self.psm <= 13:
            raise ValueError(f"tesseract psm must be 0..13, got {self.psm}")
        for name in ("min_confidence", "min_short_word_confidence"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be 0..100, got {getattr(self, name)}")
        if self.min_word_len < 1:
            raise ValueError(f"min_word_len must be at least 1, got {self.min_word_len}")
        if self.min_height < 1 or self.max_upscale < 1:
            raise ValueError("min_height must be positive and max_upscale at least 1")
        if not 1 <= self.min_stroke_contrast <= 255:
            raise ValueError(f"min_stroke_contrast must be 1..255, got {self.min_stroke_contrast}")
        if self.max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, got {self.max_lines}")
        if not 8 <= self.line_height <= 200:
            raise ValueError(f"line_height must be 8..200 pixels, got {self.line_height}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")


class TesseractOCR:
    """Reads words from RGB images with Tesseract.

    Args:
        config: settings; defaults to ``TesseractConfig()``.
    """

    def __init__(self, config: TesseractConfig | None = None) -> None:
        self.config = config or TesseractConfig()
        self._checked = False

    def check_available(self) -> None:
        """Makes sure the program and the language data are there (the answer is cached).

        Raises:
            TextInputError: the ``tesseract`` program or a language's data is missing; the message
                says how to install it.
        """
        if self._checked:
            return
        cmd = self.config.tesseract_cmd
        if shutil.which(cmd) is None:
            raise TextInputError(f"tesseract OCR engine not found ({cmd!r}); {_INSTALL_HINT}")
        try:
            listed = subprocess.run([cmd, "--list-langs"], capture_output=True, text=True, timeout=30, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            raise TextInputError(f"tesseract OCR engine not found or broken ({exc}); {_INSTALL_HINT}") from exc
        installed = {line.strip() for line in listed.stdout.splitlines()[1:] if line.strip()}
        missing = [lang for lang in self.config.lang.split("+") if lang not in installed]
        if missing:
            packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
            raise TextInputError(
                f"tesseract language data {'+'.join(missing)!r} not found (installed: "
                f"{', '.join(sorted(installed)) or 'none'}); install it with `apt-get install {packages}`"
            )
        self._checked = True

    def read_text(self, image: np.ndarray) -> str:
        """Words Tesseract is confident about, line by line, top to bottom.

        Args:
            image: ``uint8 [H,W,3]`` RGB (``[H,W]`` grayscale is accepted too).

        Returns:
            The kept words joined by single spaces; ``""`` when none (or when Tesseract timed out).

        Raises:
            TextInputError: the engine is missing (see ``check_available``) or failed.
            ValueError: the image is not ``uint8 [H,W,3]`` or ``[H,W]``.
        """
        self.check_available()
        gray = gray_image(image)
        lines = find_text_lines(gray, self.config)
        if not lines:
            return ""
        crops, owners = [], []
        for line in lines:
            crop = render_line(gray, line, self.config.line_height)
            if crop is not None:
                crops.append(crop)
                owners.append(line)
        if not crops:
            return ""
        sheet, rows = stack_crops(crops)
        readings = self._readings(self._run(sheet), rows)
        return " ".join(_best_per_place(owners, readings))

    def read_texts(self, images) -> list[str]:
        """``read_text`` for each image (``uint8 [N,H,W,3]`` or a list of ``[H,W,3]``)."""
        return [self.read_text(image) for image in images]

    def _run(self, sheet: np.ndarray) -> list[tuple[str, float, int, int]]:
        """Tesseract's words on the sheet as ``(text, confidence, top, height)``; none on a timeout.

        Tesseract runs directly (image on stdin, TSV on stdout) with one OpenMP thread: its default
        of a thread per core made each run 2-3x slower on the 2-core machine (threads spin-waiting),
        and OCR shares the machine with decoding and encoding anyway. An ``OMP_THREAD_LIMIT`` set in
        the environment is kept.
        """
        import cv2

        ok, png = cv2.imencode(".png", sheet)
        if not ok:
            raise TextInputError("could not encode an image for tesseract")
        config = self.config
        cmd = [config.tesseract_cmd, "stdin", "stdout", "-l", config.lang, "--psm", str(config.psm), "tsv"]
        env = {**os.environ}
        if not env.get("OMP_THREAD_LIMIT"):
            env["OMP_THREAD_LIMIT"] = "1"
        try:
            done = subprocess.run(cmd, input=png.tobytes(), capture_output=True, env=env, timeout=config.timeout_s)
        except subprocess.TimeoutExpired:
            return []
        except OSError as exc:
            raise TextInputError(f"tesseract OCR engine could not run ({exc}); {_INSTALL_HINT}") from exc
        if done.returncode != 0:
            error = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise TextInputError(f"tesseract failed (exit {done.returncode}): {error[-1] if error else 'no message'}")
        return _parse_tsv(done.stdout.decode("utf-8", "replace"))

    def _readings(
        self, words: list[tuple[str, float, int, int]], rows: list[tuple[int, int, int]]
    ) -> list[list[tuple[str, float]]]:
        """The kept words of each crop on the sheet, as ``(word, confidence)`` in Tesseract's order."""
        readings: list[list[tuple[str, float]]] = [[] for _ in rows]
        starts = [top for top, _, _ in rows]
        for word, conf, top, height in words:
            letters = sum(ch.isalnum() for ch in word)
            if letters < self.config.min_word_len or conf < self.config.min_confidence:
                continue
            if letters < 4 and conf < self.config.min_short_word_confidence:
                continue
            middle = top + height / 2
            row = bisect.bisect_right(starts, middle) - 1
            if row < 0 or middle >= rows[row][1]:
                continue
            # Texture read as text is mostly small marks inside the crop; real words span the line.
            if height < 0.35 * rows[row][2]:
                continue
            readings[row].append((word, conf))
        return readings


def _parse_tsv(tsv: str) -> list[tuple[str, float, int, int]]:
    """Words of Tesseract's TSV output (``level ... left top width height conf text``)."""
    words = []
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5":
            continue
        text = fields[11].strip()
        try:
            conf, top, height = float(fields[10]), int(fields[7]), int(fields[9])
        except ValueError:
            continue
        if text:
            words.append((text, conf, top, height))
    return words


def _best_per_place(lines: list[TextLine], readings: list[list[tuple[str, float]]]) -> list[str]:
    """One reading per place: where lines overlap (both polarities, both scales) the most confident wins.

    Returns:
        The words of the kept lines in reading order (top to bottom, then left to right).
    """
    clash = clashes(lines)
    kept: list[int] = []
    for i in sorted(range(len(lines)), key=lambda i: -_score(readings[i])):
        if readings[i] and not clash[i, kept].any():
            kept.append(i)
    if not kept:
        return []
    # Reading order: rows of lines that share most of their height, top to bottom; left to right in a row.
    box = np.array([[lines[i].y0, lines[i].y1] for i in kept], np.float64)
    h = box[:, 1] - box[:, 0]
    overlap = np.minimum.outer(box[:, 1], box[:, 1]) - np.maximum.outer(box[:, 0], box[:, 0])
    rows = groups(len(kept), np.argwhere(np.triu(overlap >= 0.5 * np.minimum.outer(h, h), 1)))
    rows.sort(key=lambda row: float(box[row].mean()))
    order = [kept[j] for row in rows for j in sorted(row, key=lambda j: lines[kept[j]].x0)]
    return [word for i in order for word, _ in readings[i]]


def _score(reading: list[tuple[str, float]]) -> float:
    return sum(conf * sum(ch.isalnum() for ch in word) for word, conf in reading)


def render_line(gray: np.ndarray, line: TextLine, line_height: int) -> tuple[np.ndarray, int] | None:
    """The line cut out, scaled to ``line_height`` rows of text, as black letters on white.

    Ink is where the top-hat (light text) or black-hat (dark text) of the crop is above Otsu's
    threshold and the grey level is close to the ink's typical level: letters are drawn in one
    colour, while the background that shows between outlined letters is not (``_clean_ink``
    then drops what is not letters).

    Returns:
        The crop and the text height in it, pixels; None when ink covers most of the line (the
        ground of the other polarity: nothing to read).
    """
    import cv2

    h = max(1, line.y1 - line.y0)
    pad_y, pad_x = int(0.3 * h) + 2, int(0.4 * h) + 2
    top, left = max(0, line.y0 - pad_y), max(0, line.x0 - pad_x)
    crop = gray[top : line.y1 + pad_y, left : line.x1 + pad_x]
    f = line_height / h
    interpolation = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=interpolation)
    size = int(0.6 * line_height) | 1  # wider than any stroke of letters this tall
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    strokes = cv2.morphologyEx(crop, cv2.MORPH_BLACKHAT if line.dark else cv2.MORPH_TOPHAT, kernel)
    threshold, _ = cv2.threshold(strokes, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ground = strokes <= threshold
    ink_values = crop[~ground].astype(np.float32)
    if ink_values.size:
        level = float(np.median(ink_values))
        spread = float(np.median(np.abs(ink_values - level)))
        ground |= np.abs(crop.astype(np.float32) - level) > max(_INK_TOLERANCE, 3 * spread)
    text_h = round(h * f)
    ink = _clean_ink(ground, crop, text_h)
    # Ink covering most of the box is ground read as ink (the wrong polarity): not worth reading.
    y0, y1 = round((line.y0 - top) * f), round((line.y1 - top) * f)
    box = ink[y0:y1, round((line.x0 - left) * f) : round((line.x1 - left) * f)]
    if box.size and (box == 0).mean() > _MAX_INK:
        return None
    return ink, text_h


_INK_TOLERANCE = 16  # grey levels an ink pixel may differ from the ink's median (more if the ink varies more)
_MAX_INK = 0.65  # a crop whose box is more ink than this is the ground of the other polarity


def _clean_ink(ground: np.ndarray, crop: np.ndarray, text_h: int) -> np.ndarray:
    """``uint8`` black ink on white from a ground mask, without marks that are not this line's letters.

    Dropped: marks cut by the crop's edge (they belong to something else: the crop has a margin
    around the letters), specks much smaller than a letter's dot (they wreck Tesseract's
    confidence in the whole line), and marks whose outline mostly does not lie on a sharp edge
    of ``crop`` (background showing between outlined letters, or texture, is cut out of a smooth
    patch by the threshold; a letter is bounded by its stroke edges all round).
    """
    import cv2

    ink = (~ground).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    x, y, w, hh, area = stats.T
    rows, cols = ground.shape
    m = max(2, round(0.05 * text_h))  # "at the edge": within a few pixels (resampling rings)
    keep = (x >= m) & (y >= m) & (x + w <= cols - m) & (y + hh <= rows - m) & (area >= 0.01 * text_h**2)
    keep[0] = False
    # Slivers much thinner than any stroke (ground glimpsed between outlined letters) are not ink.
    thickness = np.zeros(n, np.float32)
    on_ink = ink.ravel() > 0
    np.maximum.at(thickness, labels.ravel()[on_ink], cv2.distanceTransform(ink, cv2.DIST_L2, 3).ravel()[on_ink])
    keep &= 2 * thickness >= _MIN_STROKE * text_h
    rim = (ink - cv2.erode(ink, np.ones((3, 1), np.uint8))).astype(bool)  # tops and bottoms of strokes
    if rim.any():
        edges = cv2.morphologyEx(crop, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))[rim]
        sharp = edges >= _SHARP * np.percentile(edges, 90)
        on_rim = np.bincount(labels[rim], minlength=n)
        support = np.bincount(labels[rim], weights=sharp, minlength=n) / np.maximum(on_rim, 1)
        keep &= support >= _MIN_EDGE_SUPPORT
    return np.where(keep[labels], 0, 255).astype(np.uint8)


_MIN_STROKE = 0.07  # thinnest stroke, share of the letter height
_MIN_EDGE_SUPPORT = 0.6  # share of a mark's outline that must lie on a sharp edge
_SHARP = 0.4  # a sharp edge: at least this share of the line's strong (90th percentile) edges


def stack_crops(crops: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Crops one under another on a white sheet (one Tesseract run reads them all).

    Returns:
        The sheet and, per crop, ``(first row, end row, text height)``.
    """
    gap = max(8, max(text_h for _, text_h in crops) // 2)
    width = max(crop.shape[1] for crop, _ in crops) + 2 * gap
    height = sum(crop.shape[0] for crop, _ in crops) + gap * (len(crops) + 1)
    sheet = np.full((height, width), 255, np.uint8)
    rows = []
    top = gap
    for crop, text_h in crops:
        sheet[top : top + crop.shape[0], gap : gap + crop.shape[1]] = crop
        rows.append((top, top + crop.shape[0], text_h))
        top += crop.shape[0] + gap
    return sheet, rows
