"""The openpi wire format: msgpack maps with numpy arrays encoded the msgpack-numpy way.

An array travels as ``{"__ndarray__": True, "data": <raw bytes>, "dtype": "<f4", "shape": [...]}``
and a numpy scalar as ``{"__npgeneric__": True, "data": <python number>, "dtype": "<i8"}`` (keys as
msgpack bytes, as openpi's ``msgpack_numpy`` writes them; str keys are accepted too).

Decoding never unpickles and never builds object arrays: only bool, integer, unsigned, float and
complex dtypes are accepted, the declared shape must match the byte count exactly, and the array
is a read-only ``np.frombuffer`` view. Imports only numpy and msgpack.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

# Kinds a robot observation can meaningfully carry; "O" (objects), "V" (void/structured), "U"/"S"
# (strings) and datetimes are refused so no decoder ever builds Python objects from the network.
ALLOWED_KINDS = frozenset("biufc")
MAX_NDIM = 8


class WireError(ValueError):
    """A message that is not a valid msgpack-numpy map (one-line message)."""


def packb(obj: Any) -> bytes:
    """Encodes ``obj`` (maps, lists, numbers, str, numpy arrays and scalars) as msgpack bytes."""
    return msgpack.packb(obj, default=_encode)


def unpackb(data: bytes) -> Any:
    """Decodes msgpack bytes, turning msgpack-numpy maps back into validated arrays.

    Raises:
        WireError: malformed msgpack or an invalid array (object dtype, shape/byte mismatch).
    """
    try:
        return msgpack.unpackb(data, object_hook=_decode, raw=False)
    except WireError:
        raise
    except (ValueError, TypeError, msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException) as exc:
        raise WireError(f"malformed msgpack message ({type(exc).__name__}: {exc})") from None


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray | np.generic) and obj.dtype.kind not in ALLOWED_KINDS:
        raise WireError(f"cannot send dtype {obj.dtype} (allowed kinds: bool, int, uint, float, complex)")
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _field(obj: dict, name: str) -> Any:
    if name in obj:
        return obj[name]
    key = name.encode()
    if key in obj:
        return obj[key]
    raise WireError(f"array map lacks '{name}'")


def _dtype(text: Any) -> np.dtype:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or len(text) > 16:
        raise WireError(f"array dtype must be a short string like '<f4', got {text!r:.40}")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise WireError(f"unknown array dtype {text!r}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"array dtype {text!r} is not allowed (object, string and structured dtypes are refused)")
    return dtype


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or len(value) > MAX_NDIM:
        raise WireError(f"array shape must be a list of at most {MAX_NDIM} integers")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise WireError(f"array shape must hold non-negative integers, got {list(value)!r:.60}")
    return tuple(value)


def _decode(obj: dict) -> Any:
    if "__ndarray__" in obj or b"__ndarray__" in obj:
        dtype, shape, data = _dtype(_field(obj, "dtype")), _shape(_field(obj, "shape")), _field(obj, "data")
        if not isinstance(data, bytes):
            raise WireError("array data must be msgpack bytes")
        want = math.prod(shape) * dtype.itemsize  # Python ints: a huge shape cannot overflow into a match
        if want != len(data):
            raise WireError(f"array of shape {list(shape)} and dtype {dtype.str} needs {want} bytes, got {len(data)}")
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    if "__npgeneric__" in obj or b"__npgeneric__" in obj:
        dtype, value = _dtype(_field(obj, "dtype")), _field(obj, "data")
        if not isinstance(value, bool | int | float | complex):
            raise WireError("scalar data must be a number")
        try:
            return dtype.type(value)
        except (OverflowError, TypeError, ValueError):
            raise WireError(f"scalar {value!r:.40} does not fit dtype {dtype.str}") from None
    return obj
