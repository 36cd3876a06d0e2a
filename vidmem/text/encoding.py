"""Reading subtitle and caption files whose encoding is not declared.

Order tried: UTF-8 (a UTF-8 BOM is removed), UTF-16 when the file starts with a UTF-16 BOM,
then Windows-1252 with a ``TextWarning`` naming the file (old SRT files from Windows tools).
Anything else, or text with NUL characters (a binary file), raises ``TextInputError``.
"""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path

from vidmem.errors import TextInputError, TextWarning


def read_text_file(path: str | Path) -> str:
    """Decodes a text file with the fallbacks above.

    Args:
        path: the file to read.

    Returns:
        The decoded text, without a byte-order mark; line ends are left as found.

    Raises:
        TextInputError: the file is missing, unreadable, or matches none of the encodings.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TextInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = _decode(data, path)
    if "\x00" in text:
        raise TextInputError(f"{path} is not a text file (it contains NUL bytes)")
    return text


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TextInputError(f"{path} has a UTF-16 byte-order mark but is not valid UTF-16") from exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise TextInputError(
            f"cannot decode {path}: not UTF-8, UTF-16 (with BOM) or Windows-1252; re-save it as UTF-8"
        ) from exc
    warnings.warn(f"{path} is not UTF-8; read it as Windows-1252 (cp1252)", TextWarning, stacklevel=3)
    return text
