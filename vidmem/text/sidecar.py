"""Finding subtitle files beside a video and reading any supported text file by its suffix."""

from __future__ import annotations

import re
from pathlib import Path

from vidmem.errors import TextInputError
from vidmem.text.captions import read_captions_json
from vidmem.text.spans import TextSpan
from vidmem.text.subtitle_files import read_srt, read_vtt

SUBTITLE_SUFFIXES = (".srt", ".vtt")
# Language tags as players expect them: en, eng, en-US, pt_BR, zh-Hans.
_LANGUAGE_TAG = r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,4})?"


def find_sidecar_subtitles(video_path: str | Path) -> list[Path]:
    """Lists subtitle files that belong to a video by name.

    Matches ``<stem>.srt``, ``<stem>.vtt`` and ``<stem>.<lang>.srt|vtt`` (``movie.en.srt``,
    ``movie.pt-BR.vtt``) in the video's folder; suffixes match in any case.

    Args:
        video_path: the video file (it need not exist; its folder must, or the answer is empty).

    Returns:
        Paths sorted with the untagged files first, then by name.
    """
    video_path = Path(video_path)
    pattern = re.compile(rf"^{re.escape(video_path.stem)}(\.{_LANGUAGE_TAG})?\.(srt|vtt)$", flags=re.IGNORECASE)
    folder = video_path.parent
    if not folder.is_dir():
        return []
    found = []
    for candidate in folder.iterdir():
        match = pattern.match(candidate.name)
        # The stem itself must match exactly even though suffix case is free.
        if match and candidate.name.startswith(video_path.stem) and candidate.is_file():
            found.append((match.group(1) is not None, candidate.name, candidate))
    return [path for _, _, path in sorted(found)]


def read_subtitles(path: str | Path, *, duration: float | None = None, fps: float | None = None) -> list[TextSpan]:
    """Reads an ``.srt``, ``.vtt`` or captions ``.json`` file, chosen by suffix.

    Args:
        path: the file.
        duration: the video's length in seconds, when known.
        fps: the video's frame rate, needed for frame-range caption JSON.

    Returns:
        Validated spans sorted by start.

    Raises:
        TextInputError: unknown suffix, or whatever the reader raises.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".srt":
        return read_srt(path, duration=duration)
    if suffix == ".vtt":
        return read_vtt(path, duration=duration)
    if suffix == ".json":
        return read_captions_json(path, fps, duration=duration)
    raise TextInputError(f"{path}: unknown subtitle format {path.suffix!r} (expected .srt, .vtt or .json)")
