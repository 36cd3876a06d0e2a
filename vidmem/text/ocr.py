"""On-screen text (signs, burned-in captions, slides) read from keyframes with Tesseract.

Tesseract runs as an external program through ``pytesseract``: each image is one process
start. Measured on this project's 2-core machine: about 0.15-0.3 s per 640x360 keyframe at
native size, and 4-5x that when upscaled to 720 rows (which did not read video text better), so
frames are upscaled only below ``min_height`` (360) and OCR is meant for keyframes, not every
frame. Video text is hard for Tesseract (no layout, busy backgrounds): expect large, high-contrast
words (signs, titles, outlined captions) to be read and small or coloured text to be missed.
"""

from __future__ import annotations

import difflib
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidmem.errors import TextInputError

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
        psm: page segmentation mode; 11 ("sparse text, no order") suits words scattered over a
            video frame better than the page modes.
        min_confidence: words Tesseract is less sure of (0..100) are dropped.
        min_word_len: words with fewer letters or digits than this are dropped; single letters
            and runs of dashes are mostly texture read as text.
        min_height: images shorter than this are upscaled (small frames have letters too small
            for Tesseract; larger upscales cost much time for little gain on video).
        max_upscale: the largest upscale factor applied.
        tesseract_cmd: the program to run, a name on PATH or a path.
        timeout_s: seconds before one image is given up (it then reads as no text).
    """

    engine: str = "tesseract"
    lang: str = "eng"
    psm: int = 11
    min_confidence: float = 60.0
    min_word_len: int = 2
    min_height: int = 360
    max_upscale: float = 3.0
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
        if not 0 <= self.min_confidence <= 100:
            raise ValueError(f"min_confidence must be 0..100, got {self.min_confidence}")
        if self.min_word_len < 1:
            raise ValueError(f"min_word_len must be at least 1, got {self.min_word_len}")
        if self.min_height < 1 or self.max_upscale < 1:
            raise ValueError("min_height must be positive and max_upscale at least 1")
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
                raise TextInputError(
                    f"tesseract OCR engine not found or broken ({exc}); {_INSTALL_HINT}"
                ) from exc
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
        """Words Tesseract is confident about, in its reading order.

        Args:
            image: ``uint8 [H,W,3]`` RGB (``[H,W]`` grayscale is accepted too).

        Returns:
            The kept words joined by single spaces; ``""`` when none (or when Tesseract timed out).

        Raises:
            TextInputError: the engine is missing (see ``check_available``).
            ValueError: the image is not ``uint8 [H,W,3]`` or ``[H,W]``.
        """
        self.check_available()
        gray = self._prepare(image)
        data = self._run(gray)
        return " ".join(self._kept_words(data))

    def read_texts(self, images: Iterable[np.ndarray]) -> list[str]:
        """``read_text`` for each image (``uint8 [N,H,W,3]`` or a list of ``[H,W,3]``)."""
        return [self.read_text(image) for image in images]

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        """Grayscale, dark text on light background, letters large enough for Tesseract."""
        import cv2

        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ValueError(f"OCR wants uint8 [H,W,3] RGB, got {image.dtype} {list(image.shape)}")
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        scale = min(self.config.max_upscale, self.config.min_height / gray.shape[0])
        if scale > 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        # Video text is often light on dark; Tesseract's LSTM reads dark on light far better.
        if gray.mean() < 128:
            gray = 255 - gray
        return gray

    def _run(self, gray: np.ndarray) -> dict[str, list[Any]]:
        pytesseract = _import_pytesseract()
        config = f"--psm {self.config.psm}"
        with _CMD_LOCK:
            pytesseract.pytesseract.tesseract_cmd = self.config.tesseract_cmd
            try:
                return pytesseract.image_to_data(
                    gray,
                    lang=self.config.lang,
                    config=config,
                    output_type=pytesseract.Output.DICT,
                    timeout=self.config.timeout_s,
                )
            except RuntimeError as exc:  # pytesseract's timeout
                if "timeout" not in str(exc).lower():
                    raise
                return {"text": [], "conf": []}

    def _kept_words(self, data: dict[str, list[Any]]) -> list[str]:
        words = []
        for word, conf in zip(data.get("text", []), data.get("conf", []), strict=False):
            word = str(word).strip()
            letters = sum(ch.isalnum() for ch in word)
            if float(conf) >= self.config.min_confidence and letters >= self.config.min_word_len:
                words.append(word)
        return words


def _import_pytesseract() -> Any:
    try:
        import pytesseract
    except ImportError as exc:
        raise TextInputError(
            "pytesseract is not installed; install it with `pip install pytesseract` or pass --no-ocr"
        ) from exc
    return pytesseract
