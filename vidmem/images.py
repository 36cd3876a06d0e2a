"""Query images from users (``ask --image``, the web app's uploads), checked before they are decoded.

A small file can declare an enormous picture (a 3 MB PNG of 32768x32768 pixels decodes to 3 GB),
so the declared size is read from the header first and refused past a pixel budget; only then is
the image decoded. Every failure is an ``ImageInputError`` with one line naming the image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidmem.errors import QueryError


class ImageInputError(QueryError):
    """A query image that cannot be used: missing, not an image, damaged, or too large."""


@dataclass(frozen=True)
class ImageLimits:
    """What a query image may declare before it is decoded.

    Attributes:
        max_pixels: width x height budget (default 40 MP: a 8K frame is 33 MP).
        max_side: longest side in pixels.
        max_bytes: file size.
    """

    max_pixels: int = 40_000_000
    max_side: int = 16_384
    max_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if min(self.max_pixels, self.max_side, self.max_bytes) < 1:
            raise ValueError("image limits must be positive")


def load_image(path: str | Path, limits: ImageLimits | None = None) -> np.ndarray:
    """Reads a query image file as ``uint8 [H,W,3]`` RGB, refusing oversized ones before decoding.

    Raises:
        ImageInputError: missing, unreadable, not an image, damaged, or over ``limits``.
    """
    path = Path(path)
    limits = limits or ImageLimits()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageInputError(f"cannot read image {path}: not a file")
        if size > limits.max_bytes:
            raise ImageInputError(f"image {path} is {size / 1e6:.0f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise ImageInputError(f"cannot read image {path}: {exc.strerror or exc}") from None
    return decode_image(data, str(path), limits)


def decode_image(data: bytes, name: str, limits: ImageLimits | None = None) -> np.ndarray:
    """Decodes image bytes (an upload) as ``uint8 [H,W,3]`` RGB after checking the declared size.

    Args:
        data: the encoded image (PNG, JPEG, WebP, BMP, GIF, TIFF: what Pillow reads).
        name: how the image is named in errors (a path or an upload's file name).
        limits: the size budget.
    """
    from PIL import Image, UnidentifiedImageError

    limits = limits or ImageLimits()
    if len(data) > limits.max_bytes:
        raise ImageInputError(f"image {name} is {len(data) / 1e6:.0f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB")
    declared = _png_size(data)
    if declared is not None:  # checked before Pillow, whose own bomb check would not name the size
        _check_declared(declared, name, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: the check below is ours
            image = Image.open(io.BytesIO(data))  # reads the header only
            _check_declared(image.size, name, limits)
            return _decode_checked(data, image, name)
    except ImageInputError:
        raise
    except Image.DecompressionBombError:
        raise ImageInputError(
            f"image {name} declares over {Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} MP; the limit is "
            f"{limits.max_pixels / 1e6:.0f} MP: scale it down first"
        ) from None
    except UnidentifiedImageError:
        raise ImageInputError(f"cannot read image {name}: not a known image format") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise ImageInputError(f"cannot decode image {name}: {_first_line(exc)}") from None


def _decode_checked(data: bytes, image, name: str) -> np.ndarray:
    """OpenCV decodes (as video frames are read, so pixels match the store's); Pillow for other formats."""
    import cv2

    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None  # OpenCV refuses a header Pillow accepted: let Pillow decode it (or say why not)
    if bgr is not None:
        return np.ascontiguousarray(bgr[:, :, ::-1])
    rgb = image.convert("RGB")
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ImageInputError(f"image {name} has no pixels")
    return array


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None for anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _check_declared(size: tuple[int, int], name: str, limits: ImageLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageInputError(f"image {name} declares {width}x{height} pixels; not an image")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise ImageInputError(
            f"image {name} declares {width}x{height} pixels ({width * height / 1e6:.0f} MP); the limit is "
            f"{limits.max_pixels / 1e6:.0f} MP and {limits.max_side} px a side: scale it down first"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]
