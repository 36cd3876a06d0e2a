"""On-screen and scene text (signs, plates, sail numbers, captions, slides) read with rapidocr's PP-OCR models.

A learned detector (PP-OCRv6 det, small) finds text boxes at any tilt, colour and background and
a learned recogniser (PP-OCRv6 rec, small) reads them; both ship in the rapidocr wheel and run on
onnxruntime with one thread (on the busy 2-core machine two threads fight, and ingest decodes
video on the other core). The detector sees the frame scaled so its longer side is ``det_side``
pixels. On generated signs (letters 24-72 px tall at 640x360, also at half resolution) 480 read
every word at ~150 CPU-ms per frame; 736 (rapidocr's default) read the same at ~260 ms; 320 missed
some (0.96) at ~90 ms.

Reading costs ~150-250 CPU-ms per 640x360 frame with text, so it runs only on frames likely to
hold text: ingest reads keyframes only, and ``likely_text`` (the stroke-chain line finder of
``vidmem.text.text_lines``, ~5-15 ms) skips frames without a row of letter-like marks (it passed
every sign frame and a quarter of text-free scene frames). Results below ``min_score`` or with
characters outside ``alphabet`` (the multilingual recogniser can write CJK glyphs) are dropped,
and so are words shorter than ``min_word_len`` letters or digits.

One engine is made per process and shared (``rapid_engine``): it holds ~250 MB once it has run,
and a second one brings nothing.
"""

from __future__ import annotations

import functools
import string
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidmem.errors import TextInputError
from vidmem.text.spans import check_choice

OCR_ALPHABET = string.ascii_letters + string.digits + " .,:;!?'\"&-+/()#%$@"
"""Characters of English signs and captions; a result with any other character is dropped."""
_INSTALL_HINT = "install it with `pip install rapidocr onnxruntime` or pass --no-ocr"


OCR_ENGINES = ("rapidocr",)


@dataclass(frozen=True)
class OCRConfig:
    """How on-screen text is read.

    Attributes:
        engine: OCR engine name; only ``rapidocr`` (the Tesseract reader it replaced is the
            benchmark's baseline, ``eval/ocr_baseline.py``).
        det_side: the longer side, in pixels, the detector sees the frame at.
        min_score: recognised lines less sure than this (0..1) are dropped.
        alphabet: characters a kept line may contain.
        min_word_len: words with fewer letters or digits are dropped (single marks are mostly texture).
        threads: onnxruntime intra-op threads.
        gate: run the cheap text-presence test first and skip frames it finds no text line in.
        min_stroke_contrast: grey levels a stroke must stand out by, for the presence test.
        min_height: the presence test looks at the frame scaled to this many rows.
        max_upscale: the largest upscale factor applied to reach ``min_height``.
        max_lines: text lines the line finder keeps (the presence test needs one).
    """

    engine: str = "rapidocr"
    det_side: int = 480
    min_score: float = 0.8
    alphabet: str = OCR_ALPHABET
    min_word_len: int = 2
    threads: int = 1
    gate: bool = True
    min_stroke_contrast: int = 40
    min_height: int = 360
    max_upscale: float = 3.0
    max_lines: int = 1

    def __post_init__(self) -> None:
        check_choice("OCR engine", self.engine, OCR_ENGINES)
        if not 64 <= self.det_side <= 4096:
            raise ValueError(f"det_side must be 64..4096 pixels, got {self.det_side}")
        if not 0 <= self.min_score <= 1:
            raise ValueError(f"min_score must be 0..1, got {self.min_score}")
        if not self.alphabet:
            raise ValueError("alphabet must not be empty")
        if self.min_word_len < 1 or self.threads < 1:
            raise ValueError("min_word_len and threads must be at least 1")
        if not 1 <= self.min_stroke_contrast <= 255:
            raise ValueError(f"min_stroke_contrast must be 1..255, got {self.min_stroke_contrast}")
        if self.min_height < 1 or self.max_upscale < 1 or self.max_lines < 1:
            raise ValueError("min_height and max_lines must be positive and max_upscale at least 1")


@functools.lru_cache(maxsize=2)
def rapid_engine(det_side: int, threads: int) -> Any:
    """The process's rapidocr engine for these settings (created once, models loaded on first use).

    Raises:
        TextInputError: rapidocr or onnxruntime is not installed.
    """
    try:
        from rapidocr import RapidOCR
    except ImportError as exc:
        raise TextInputError(f"rapidocr is not installed; {_INSTALL_HINT}") from exc
    _without_shape_plans()
    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,  # upside-down text is rare in video; the classifier costs a pass per line
            "Det.limit_side_len": det_side,
            "Det.limit_type": "max",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


def _without_shape_plans() -> None:
    """Turns off onnxruntime's per-shape memory plans in rapidocr's sessions.

    Every frame and text line gives the detector and recogniser a new input shape; with memory
    patterns on, onnxruntime keeps a plan and its buffers for each, and an hour of ingest grew RSS
    by gigabytes. rapidocr's config has no switch for it, so its session options are amended here.
    """
    try:
        from rapidocr.inference_engine.onnxruntime.main import OrtInferSession
    except ImportError:  # another rapidocr layout: nothing to amend
        return
    original = OrtInferSession.__dict__.get("_init_sess_opts")
    if not isinstance(original, staticmethod) or getattr(original.__func__, "_vidmem", False):
        return

    def init_sess_opts(cfg: Any) -> Any:
        options = original.__func__(cfg)
        options.enable_mem_pattern = False
        options.enable_cpu_mem_arena = False
        return options

    init_sess_opts._vidmem = True  # type: ignore[attr-defined]
    OrtInferSession._init_sess_opts = staticmethod(init_sess_opts)


class RapidOCRReader:
    """Reads words from RGB frames with rapidocr.

    Args:
        config: settings; defaults to ``OCRConfig()``.
    """

    def __init__(self, config: OCRConfig | None = None) -> None:
        self.config = config or OCRConfig()
        self._lock = threading.Lock()  # one engine per process: runs one frame at a time

    def check_available(self) -> None:
        """Makes sure rapidocr loads (the engine is created once per process)."""
        rapid_engine(self.config.det_side, self.config.threads)

    def read_text(self, image: np.ndarray) -> str:
        """The kept words, line by line in reading order, joined by single spaces.

        Args:
            image: ``uint8 [H,W,3]`` RGB (``[H,W]`` grayscale is accepted too).

        Returns:
            ``""`` when the frame holds no (confident) text.

        Raises:
            ValueError: the image is not ``uint8 [H,W,3]`` or ``[H,W]``.
        """
        bgr = _bgr(image)
        if self.config.gate and not likely_text(bgr, self.config):
            return ""
        engine = rapid_engine(self.config.det_side, self.config.threads)
        with self._lock:
            result = engine(bgr)
        if result.txts is None or result.boxes is None:
            return ""
        lines = [
            (box, text)
            for box, text, score in zip(result.boxes, result.txts, result.scores, strict=True)
            if score >= self.config.min_score and text.strip() and all(ch in self.config.alphabet for ch in text)
        ]
        words = [w for _, text in _reading_order(lines) for w in text.split() if self._keep(w)]
        return " ".join(words)

    def read_texts(self, images) -> list[str]:
        """``read_text`` for each image (``uint8 [N,H,W,3]`` or a list of ``[H,W,3]``)."""
        return [self.read_text(image) for image in images]

    def _keep(self, word: str) -> bool:
        return sum(ch.isalnum() for ch in word) >= self.config.min_word_len


def likely_text(image: np.ndarray, config: OCRConfig | None = None) -> bool:
    """Cheap text-presence test: is there a row of letter-like stroke marks (~5-15 ms per frame)?

    Args:
        image: ``uint8 [H,W,3]`` (either channel order) or ``[H,W]``.
        config: the line finder's settings (``min_stroke_contrast``, ``min_height``, ...).
    """
    from vidmem.text.text_lines import find_text_lines, gray_image

    return bool(find_text_lines(gray_image(image), config or OCRConfig()))


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected a uint8 [H,W,3] or [H,W] image, got {image.dtype} {image.shape}")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    return np.ascontiguousarray(image[:, :, ::-1])


def _reading_order(lines: list[tuple[np.ndarray, str]]) -> list[tuple[np.ndarray, str]]:
    """Top to bottom by rows of lines that share half their height; left to right in a row."""
    boxes = [(float(np.min(b[:, 1])), float(np.max(b[:, 1])), float(np.min(b[:, 0])), t) for b, t in lines]
    boxes.sort(key=lambda b: b[0])
    rows: list[list[tuple[float, float, float, str]]] = []
    for box in boxes:
        if rows:
            top, bottom = rows[-1][0][0], rows[-1][0][1]
            overlap = min(bottom, box[1]) - max(top, box[0])
            if overlap >= 0.5 * min(bottom - top, box[1] - box[0]):
                rows[-1].append(box)
                continue
        rows.append([box])
    return [(np.zeros((4, 2)), b[3]) for row in rows for b in sorted(row, key=lambda b: b[2])]
