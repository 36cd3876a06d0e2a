"""On-screen text (signs, burned-in captions, slides) read from keyframes with Tesseract.

Tesseract on a whole video frame mostly reads nothing (or texture as junk): its page layout and
global binarisation expect a document, not a sign on a busy background. So text is found first
and Tesseract only reads what was found:

1. Stroke maps: the morphological top-hat (light strokes on darker ground) and black-hat (dark
   strokes on lighter ground) of the frame scaled to ``min_height`` rows, and of two smaller
   pyramid levels for large letters, thresholded at ``min_stroke_contrast`` grey levels.
2. Text lines: connected stroke marks shaped like characters (or several touching ones),
   chained side by side when of similar height on one row. A busy background gives marks too,
   but rarely a row of them. Pieces of one row merge; where the ground around a line is plain
   its polarity is settled (the ground between dark letters also makes a "light line"), else
   (outlined captions, busy backgrounds) it is read both ways.
3. Each line is cut out, scaled to ``line_height`` rows of letters and redrawn as black ink on
   white (top-/black-hat, Otsu, ink of one grey level, no marks cut by the crop's edge, thinner
   than a stroke, or not bounded by sharp edges), so polarity, background and outlines are
   gone; the crops are stacked on one sheet and read by one Tesseract run.
4. Per place the most confident reading is kept; words below ``min_confidence``
   (``min_short_word_confidence`` for words of 2-3 letters, what texture mostly reads as) or
   much shorter than their line are dropped.

Measured on the project's 2-core machine, per 640x360 frame: 5-15 ms to find lines, then one
Tesseract run; 85-150 ms in all on the demo videos' frames and on real footage, up to ~360 ms
for a slide of 12 text lines (a frame with no candidate line skips Tesseract). The former
whole-frame run took 110-300 ms and read none of the demo signs. Tesseract runs with one
OpenMP thread: its default (a thread per core) was 1.5-3x slower here. Expect signs, titles,
captions (outlined or on a box) and slides to be read; text whose only contrast is colour
(equal brightness), letters under ~7 pixels tall at 360 rows, and letters that a line or edge
of the background runs into can be missed.
"""

from __future__ import annotations

import bisect
import difflib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidmem.errors import TextInputError
from vidmem.text.text_lines import TextLine, clashes, find_text_lines, gray_image, groups, render_line, stack_crops

OCR_ENGINES = ("tesseract",)
_INSTALL_HINT = "install it with `apt-get install tesseract-ocr tesseract-ocr-eng` or pass --no-ocr"
# pytesseract keeps the program path in a module global; the lock keeps two engines with
# different paths from swapping it under each other.
_CMD_LOCK = threading.Lock()


@dataclass(frozen=True)
class OCRConfig:
    """How to run OCR.

    Attributes:
        engine: OCR engine name; only ``tesseract`` exists.
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

    engine: str = "tesseract"
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
        if self.engine not in OCR_ENGINES:
            close = difflib.get_close_matches(self.engine, OCR_ENGINES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown OCR engine {self.engine!r}{hint} (known: {', '.join(OCR_ENGINES)})")
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
        config: OCR settings; defaults to ``OCRConfig()``.
    """

    def __init__(self, config: OCRConfig | None = None) -> None:
        self.config = config or OCRConfig()
        self._checked = False

    def check_available(self) -> None:
        """Makes sure the program and the language data are there (the answer is cached).

        Raises:
            TextInputError: pytesseract, the ``tesseract`` program or a language's data is
                missing; the message says how to install it or to pass ``--no-ocr``.
        """
        if self._checked:
            return
        pytesseract = _import_pytesseract()
        cmd = self.config.tesseract_cmd
        if shutil.which(cmd) is None:
            raise TextInputError(f"tesseract OCR engine not found ({cmd!r}); {_INSTALL_HINT}")
        with _CMD_LOCK:
            pytesseract.pytesseract.tesseract_cmd = cmd
            try:
                installed = set(pytesseract.get_languages(config=""))
            except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError) as exc:
                raise TextInputError(f"tesseract OCR engine not found or broken ({exc}); {_INSTALL_HINT}") from exc
        missing = [lang for lang in self.config.lang.split("+") if lang not in installed]
        if missing:
            packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
            raise TextInputError(
                f"tesseract language data {'+'.join(missing)!r} not found (installed: "
                f"{', '.join(sorted(installed)) or 'none'}); install it with `apt-get install {packages}` "
                "or pass --no-ocr"
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

    def read_texts(self, images: Iterable[np.ndarray]) -> list[str]:
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


def _import_pytesseract() -> Any:
    try:
        import pytesseract
    except ImportError as exc:
        raise TextInputError(
            "pytesseract is not installed; install it with `pip install pytesseract` or pass --no-ocr"
        ) from exc
    return pytesseract


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
