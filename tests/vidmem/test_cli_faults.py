"""Hostile input through ``ask`` and ``index``: one ``error:`` line naming the file or argument."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from vidmem.errors import TextInputError
from vidmem.images import ImageInputError, load_image
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage.store import MemoryStore
from vidmem.text import read_captions_json, read_subtitles

REPO = Path(__file__).resolve().parents[2]


def vidmem(*args: str | bytes) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vidmem.cli", *args], capture_output=True, env=env)


def error_line(out: subprocess.CompletedProcess) -> str:
    stderr = out.stderr.decode("utf-8", "replace")
    assert out.returncode != 0, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert out.stdout == b""
    return lines[0]


@pytest.fixture(scope="module")
def store(sample_video, tmp_path_factory):
    video, _ = sample_video(duration=20.0, fps=5.0)
    folder = tmp_path_factory.mktemp("cli-faults")
    srt = folder / "talk.srt"
    srt.write_text(
        "1\n00:00:02,000 --> 00:00:04,000\nthe kettle is on the stove\n\n"
        "2\n00:00:12,000 --> 00:00:14,000\nthe train leaves at noon\n"
    )
    root = folder / "store"
    index_video(video, root, IngestConfig(ocr=False, subtitles=(str(srt),), embedded_subtitles=False))
    return root


def png_header(path: Path, width: int, height: int, filler: int = 0) -> Path:
    """A PNG that declares ``width x height`` RGB pixels but holds only a few rows (``filler`` bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(filler))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [32768, 20000])
def test_an_oversized_image_is_refused_from_its_header(store, tmp_path, side):
    image = png_header(tmp_path / f"huge{side}.png", side, side, filler=3 << 20)
    start = time.perf_counter()
    with pytest.raises(ImageInputError, match=f"declares {side}x{side} pixels"):
        load_image(image)
    print(f"{side}x{side} PNG ({image.stat().st_size / 1e6:.1f} MB) refused in {time.perf_counter() - start:.3f} s")
    line = error_line(vidmem("ask", str(store), "", "--image", str(image)))
    assert str(image) in line and "limit" in line, line


@pytest.mark.parametrize(
    ("width", "height", "needle"),
    [(0, 10, "not an image"), (2**31 - 1, 2**31 - 1, "declares"), (64, 64, "cannot decode")],
)
def test_a_damaged_image_header_is_one_line_naming_the_file(tmp_path, width, height, needle):
    image = png_header(tmp_path / "bad.png", width, height)
    with pytest.raises(ImageInputError, match=needle) as caught:
        load_image(image)
    assert str(image) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["why?", "--from", "300", "--to", "10"], "--from 300 must be before --to 10"),
        (["why?", "--from", "nan"], "--from must be a number"),
        (["which?", "--choice", "", "--choice", ""], "--choice 1 is empty"),
        (['"'], "has no words"),
        (["*"], "has no words"),
        ([b"caf\xe9 \xff?"], "not valid UTF-8"),
        (["-kettle"], "after '--'"),
    ],
)
def test_bad_ask_arguments_are_refused(store, args, needle):
    line = error_line(vidmem("ask", str(store), *args))
    assert needle in line, line


def test_a_question_starting_with_a_dash_works_after_double_dash(store):
    out = vidmem("ask", "--json", str(store), "--", "-kettle")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["evidence"][0]["t_start"] == 2.0


def test_a_text_ask_before_the_first_checkpoint_says_nothing_is_indexed_yet(tmp_path):
    from vidmem.ingest import store_encoder

    root = tmp_path / "starting"
    with MemoryStore(root, create=True) as s:
        store_encoder(s, "classical")
        s.add_source("/videos/talk.mp4", "f" * 40, 600.0, {})
    line = error_line(vidmem("ask", str(root), "what is said about the budget?"))
    assert "nothing is indexed yet" in line and str(root) in line, line


def test_subtitle_and_caption_files_that_overflow_or_nest_name_the_file(tmp_path):
    srt = tmp_path / "hours.srt"
    srt.write_text(f"1\n{'9' * 5000}:00:01,000 --> 00:00:02,000\nhello\n")
    with pytest.raises(TextInputError, match=r"hours\.srt:2: bad timestamp") as caught:
        read_subtitles(srt)
    assert len(str(caught.value)) < 300
    cases = {
        "digits.json": '[{"start": ' + "9" * 5000 + ', "end": 2, "text": "hi"}]',
        "huge.json": '[{"start": ' + "9" * 400 + ', "end": 2, "text": "hi"}]',
        "frames.json": '{"' + "9" * 5000 + '_12": "hi"}',
        "nested.json": "[" * 100_000 + "]" * 100_000,
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(TextInputError) as caught:
            read_captions_json(path, fps=25.0)
        message = str(caught.value)
        assert name in message and len(message) < 300 and "\n" not in message, message
        assert not any(raw in message for raw in ("Exceeds the limit", "conversion", "recursion")), message


def test_a_symlink_loop_is_named_as_such(sample_video, tmp_path):
    video, _ = sample_video(duration=20.0, fps=5.0)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for args in (("index", str(video), "--store", str(tmp_path / "a")), ("info", str(tmp_path / "a"))):
        line = error_line(vidmem(*args))
        assert str(tmp_path / "a") in line and "symbolic link that leads nowhere" in line, line
