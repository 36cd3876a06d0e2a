"""Text inputs: subtitle/caption files, embedded subtitle streams and OCR, on generated inputs."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest

from demos.sample_video import SampleManifest, make_sample_video, plan_scenes, render_frame
from demos.subtitles import mux_subtitles, write_captions_json, write_srt, write_vtt
from vidmem.errors import TextInputError, TextWarning, VideoError
from vidmem.io import sample_frames
from vidmem.text import (
    OCRConfig,
    RapidOCRReader,
    TextSpan,
    ass_to_text,
    clean_text,
    embedded,
    find_sidecar_subtitles,
    read_captions_json,
    read_embedded_subtitles,
    read_srt,
    read_subtitles,
    read_vtt,
    validate_spans,
)

SPANS = [
    TextSpan(0.5, 1.25, "the kettle is on the stove", "subtitle"),
    TextSpan(1.5, 2.7, "milk goes back in the fridge", "subtitle"),
    TextSpan(3725.042, 3727.0, "café & crème", "subtitle"),
]


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _assert_same(read: list[TextSpan], expected: list[TextSpan], tol: float = 1e-3) -> None:
    assert [s.text for s in read] == [s.text for s in expected]
    for got, want in zip(read, expected, strict=True):
        assert got.t_start == pytest.approx(want.t_start, abs=tol)
        assert got.t_end == pytest.approx(want.t_end, abs=tol)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 10 fps, 160x90 H.264 MP4 of flat frames getting brighter."""
    path = tmp_path_factory.mktemp("video") / "flat.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((90, 160, 3), i * 8, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


# --- round trips through the writers --------------------------------------------------------------


def test_srt_round_trip(tmp_path: Path) -> None:
    spans = read_srt(write_srt(SPANS, tmp_path / "a.srt"))
    _assert_same(spans, SPANS)
    assert spans[0].kind == "subtitle" and spans[0].origin == "a.srt:2"


def test_vtt_round_trip(tmp_path: Path) -> None:
    spans = read_vtt(write_vtt(SPANS, tmp_path / "a.vtt"))
    _assert_same(spans, SPANS)
    assert spans[1].origin == "a.vtt:6"


def test_captions_json_seconds_round_trip(tmp_path: Path) -> None:
    spans = read_captions_json(write_captions_json(SPANS, tmp_path / "c.json"))
    _assert_same(spans, SPANS)
    assert {s.kind for s in spans} == {"caption"}


def test_captions_json_frames_round_trip(tmp_path: Path) -> None:
    frames = [
        TextSpan(0.0, 2.0, "C looks around", "caption"),
        TextSpan(2.0, 4.5, "C opens the tap", "caption"),
    ]
    path = write_captions_json(frames, tmp_path / "c.json", form="frames", fps=24)
    assert '"0_48"' in path.read_text() and '"48_108"' in path.read_text()
    _assert_same(read_captions_json(path, fps=24), frames)
    with pytest.raises(TextInputError, match=r"c\.json.*frame rate \(fps\)"):
        read_captions_json(path)


def test_captions_json_other_spellings(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "w.json",
        '{"segments": [{"t_start": "00:00:01.5", "t_end": 2, "text": " <i>hi</i>\\n there "}]}',
    )
    _assert_same(read_subtitles(path), [TextSpan(1.5, 2.0, "hi there", "caption")])
    bad = _write(
        tmp_path / "bad.json",
        '[{"start": 0, "end": 1, "text": "a"}, {"start": "soon", "end": 2, "text": "b"}]',
    )
    with pytest.raises(TextInputError, match=r"bad\.json item 2: bad start time 'soon'"):
        read_captions_json(bad)


# --- tolerant parsing -----------------------------------------------------------------------------


def test_srt_tolerates_bom_crlf_tags_and_missing_blank_lines(tmp_path: Path) -> None:
    text = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n"
        "{\\an8}<i>Two</i> &amp;\r\n<font color=red>lines</font>\r\n"
        "2\r\n00:00:03.000 --> 00:00:04,000 X1:10 X2:20\r\nno blank before me\r\n\r\n"
        "00:00:05,000 --> 00:00:06,000\r\nno number, no final newline"
    )
    spans = read_srt(_write(tmp_path / "t.srt", text))
    assert [s.text for s in spans] == ["Two & lines", "no blank before me", "no number, no final newline"]
    assert [(s.t_start, s.t_end) for s in spans] == [(1.0, 2.5), (3.0, 4.0), (5.0, 6.0)]
    assert [s.origin for s in spans] == ["t.srt:2", "t.srt:6", "t.srt:9"]


def test_vtt_skips_blocks_and_reads_settings_and_short_times(tmp_path: Path) -> None:
    text = (
        "WEBVTT - made by hand\nKind: captions\n\n"
        "STYLE\n::cue { color: red }\n\n"
        "NOTE this is\na comment --> not a cue\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Bob>Hello</v> <c.loud>there</c>\n"
        "and <00:00:01.500>more\n\n"
        "01:00:00.250 --> 01:00:01.000\n&lt;b&gt; stays text\n"
    )
    spans = read_vtt(_write(tmp_path / "t.vtt", text))
    assert [s.text for s in spans] == ["Hello there and more", "<b> stays text"]
    assert [(s.t_start, s.t_end) for s in spans] == [(1.0, 2.0), (3600.25, 3601.0)]
    assert spans[0].origin == "t.vtt:11"


def test_utf16_with_bom_reads_without_warning(tmp_path: Path) -> None:
    path = tmp_path / "u16.srt"
    path.write_bytes(b"\xff\xfe" + "1\n00:00:01,000 --> 00:00:02,000\nnaïve\n".encode("utf-16-le"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [s.text for s in read_srt(path)] == ["naïve"]


def test_cp1252_is_read_with_a_warning_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "old.srt", "1\n00:00:01,000 --> 00:00:02,000\ncafé “quoted”\n", "cp1252")
    with pytest.warns(TextWarning, match=r"old\.srt is not UTF-8; read it as Windows-1252"):
        spans = read_srt(path)
    assert spans[0].text == "café “quoted”"


def test_undecodable_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.srt"
    path.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\x81\x8d\xff\n")
    with pytest.raises(TextInputError, match=r"cannot decode .*bin\.srt"):
        read_srt(path)


# --- malformed files ------------------------------------------------------------------------------


def test_bad_srt_timestamp_names_file_and_line(tmp_path: Path) -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 --> 00:00:0x,500\nbad\n"
    with pytest.raises(TextInputError, match=r"b\.srt:6: bad timestamp '00:00:0x,500'") as info:
        read_srt(_write(tmp_path / "b.srt", text))
    assert "\n" not in str(info.value)


def test_srt_timing_line_without_arrow_is_an_error(tmp_path: Path) -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 - 00:00:04,000\nbad\n"
    with pytest.raises(TextInputError, match=r"b\.srt:6: bad timing line"):
        read_srt(_write(tmp_path / "b.srt", text))


def test_bad_vtt_timestamp_names_file_and_line(tmp_path: Path) -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n00:03.000 --> 00:61.000\nbad\n"
    with pytest.raises(TextInputError, match=r"b\.vtt:6: bad timestamp '00:61.000'"):
        read_vtt(_write(tmp_path / "b.vtt", text))


def test_not_a_subtitle_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TextInputError, match=r"n\.srt:1: expected a cue number"):
        read_srt(_write(tmp_path / "n.srt", "just some notes\nand more\n"))
    with pytest.warns(TextWarning, match="no 'WEBVTT' header"):
        spans = read_vtt(_write(tmp_path / "h.vtt", "00:01.000 --> 00:02.000\nheaderless\n"))
    assert [s.text for s in spans] == ["headerless"]


def test_reversed_cue_is_dropped_with_a_warning_naming_the_line(tmp_path: Path) -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:05,000 --> 00:00:04,000\nbackwards\n"
    with pytest.warns(TextWarning, match=r"1 cue\(s\) end before they start and were dropped: r\.srt:6"):
        spans = read_srt(_write(tmp_path / "r.srt", text))
    assert [s.text for s in spans] == ["fine"]


def test_overlapping_cues_are_kept_and_warned_once(tmp_path: Path) -> None:
    cues = [
        TextSpan(0, 3, "a", "subtitle"),
        TextSpan(1, 2, "b", "subtitle"),
        TextSpan(2.5, 4, "c", "subtitle"),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spans = read_srt(write_srt(cues, tmp_path / "o.srt"))
    overlap = [w for w in caught if issubclass(w.category, TextWarning)]
    assert len(overlap) == 1
    assert "2 cue(s) overlap" in str(overlap[0].message) and "o.srt:6 overlaps o.srt:2" in str(overlap[0].message)
    assert [s.text for s in spans] == ["a", "b", "c"]


def test_cues_past_the_video_end_are_dropped_or_clipped(tmp_path: Path) -> None:
    cues = [
        TextSpan(1, 2, "in", "subtitle"),
        TextSpan(9, 12, "clipped", "subtitle"),
        TextSpan(10, 11, "late", "subtitle"),
    ]
    path = write_vtt(cues, tmp_path / "late.vtt")
    with pytest.warns(TextWarning, match=r"start after the video ends \(10\.000 s\) and were dropped: late\.vtt:9"):
        spans = read_vtt(path, duration=10.0)
    assert [(s.text, s.t_start, s.t_end) for s in spans] == [("in", 1.0, 2.0), ("clipped", 9.0, 10.0)]


def test_validate_spans_sorts_and_drops_empty_text() -> None:
    spans = [TextSpan(5, 6, "b", "ocr"), TextSpan(1, 2, "", "ocr"), TextSpan(-1, 0.5, "a", "ocr", "x:1")]
    with pytest.warns(TextWarning, match="start before 0 s"):
        kept = validate_spans(spans, None, "test")
    assert [(s.text, s.t_start) for s in kept] == [("a", 0.0), ("b", 5.0)]
    with pytest.raises(TextInputError, match="finite"):
        validate_spans([TextSpan(float("nan"), 1, "x", "ocr")], None, "test")


def test_clean_text_and_ass_to_text() -> None:
    assert clean_text("{\\an8}<i>Hi</i>\\Nthere&nbsp;&amp;\n  you") == "Hi there & you"
    assert ass_to_text("3,0,Default,,0,0,0,,{\\i1}a, b{\\i0}\\Nc") == "a, b c"
    assert ass_to_text("Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\\pos(1,2)}Hello, world") == "Hello, world"


# --- sidecar files --------------------------------------------------------------------------------


def test_find_sidecar_subtitles(tmp_path: Path) -> None:
    for name in [
        "movie.mp4",
        "movie.srt",
        "movie.en.srt",
        "movie.pt-BR.VTT",
        "movie2.srt",
        "other.en.srt",
        "movie.en.txt",
        "movie.director.commentary.srt",
    ]:
        (tmp_path / name).write_text("")
    found = [p.name for p in find_sidecar_subtitles(tmp_path / "movie.mp4")]
    assert found == ["movie.srt", "movie.en.srt", "movie.pt-BR.VTT"]
    assert find_sidecar_subtitles(tmp_path / "missing" / "x.mp4") == []


# --- embedded subtitle streams --------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "codec"), [(".mkv", None), (".mp4", None), (".mkv", "ass")])
def test_embedded_subtitles_round_trip(video: Path, tmp_path: Path, suffix: str, codec: str | None) -> None:
    cues = SPANS[:2] + [TextSpan(2.75, 3.0, "last words", "subtitle")]
    out = mux_subtitles(video, cues, tmp_path / f"with_subs{suffix}", codec=codec)
    spans = read_embedded_subtitles(out)
    _assert_same(spans, cues, tol=0.05)
    assert spans[0].origin == f"with_subs{suffix} stream #1"
    with av.open(str(out)) as container:
        assert container.streams.subtitles[0].metadata.get("language") == "eng"
        assert sum(1 for _ in container.decode(video=0)) == 30  # the video came through whole


def test_mux_copies_video_packets_without_re_encoding(video: Path, tmp_path: Path) -> None:
    out = mux_subtitles(video, SPANS[:1], tmp_path / "copy.mkv")
    with av.open(str(video)) as a, av.open(str(out)) as b:
        before = [bytes(p) for p in a.demux(video=0) if p.size]
        after = [bytes(p) for p in b.demux(video=0) if p.size]
    assert before == after


def test_video_without_subtitles_gives_nothing(video: Path) -> None:
    assert read_embedded_subtitles(video) == []


def test_unreadable_video_is_a_video_error(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="cannot open"):
        read_embedded_subtitles(_write(tmp_path / "fake.mkv", "not a video"))


def test_bitmap_subtitle_streams_are_skipped_with_a_warning() -> None:
    def fake(index: int, name: str, bitmap: bool) -> SimpleNamespace:
        codec = SimpleNamespace(bitmap_sub=bitmap, text_sub=not bitmap)
        return SimpleNamespace(index=index, codec_context=SimpleNamespace(name=name, codec=codec))

    streams = [fake(2, "hdmv_pgs_subtitle", True), fake(3, "subrip", False)]
    with pytest.warns(TextWarning, match=r"stream #2 holds bitmap subtitles \(hdmv_pgs_subtitle\); skipped"):
        kept = embedded._text_streams(streams, Path("film.mkv"))
    assert [s.index for s in kept] == [3]


def test_cues_without_duration_end_at_the_next_cue_or_after_a_cap() -> None:
    cues = [
        embedded._Cue(1, 0.0, None, "a"),
        embedded._Cue(1, 2.0, None, "b"),
        embedded._Cue(2, 1.0, None, "c"),
    ]
    ends = {cue.text: cue.end for cue in embedded._close_open_cues(cues)}
    assert ends == {"a": 2.0, "b": 2.0 + embedded.OPEN_CUE_SECONDS, "c": 1.0 + embedded.OPEN_CUE_SECONDS}


# --- OCR ------------------------------------------------------------------------------------------


def test_ocr_reads_a_big_burned_in_word() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    cv2.putText(image, "KITCHEN", (110, 210), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (255, 255, 255), 8)
    ocr = RapidOCRReader()
    assert ocr.read_text(image) == "KITCHEN"
    assert ocr.read_texts(np.stack([np.zeros_like(image), image])) == ["", "KITCHEN"]


def test_missing_ocr_engine_says_how_to_install(monkeypatch) -> None:
    from vidmem.text import ocr as ocr_module

    monkeypatch.setitem(sys.modules, "rapidocr", None)  # import fails as when it is not installed
    ocr_module.rapid_engine.cache_clear()
    try:
        with pytest.raises(TextInputError, match=r"rapidocr is not installed.*pip install rapidocr.*--no-ocr"):
            RapidOCRReader(OCRConfig(gate=False)).read_text(np.zeros((32, 32, 3), np.uint8))
    finally:
        ocr_module.rapid_engine.cache_clear()


def test_ocr_engine_is_made_once_per_process() -> None:
    from vidmem.text.ocr import rapid_engine

    assert rapid_engine(480, 1) is rapid_engine(480, 1)


def test_ocr_drops_text_outside_the_alphabet_and_single_marks() -> None:
    image = np.full((200, 640, 3), 255, np.uint8)
    cv2.putText(image, "GATE 7 X", (40, 130), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (0, 0, 0), 6)
    assert RapidOCRReader().read_text(image) == "GATE"  # "7" and "X" are single marks
    assert RapidOCRReader(OCRConfig(alphabet="abc")).read_text(image) == ""


def test_ocr_config_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="did you mean 'rapidocr'"):
        OCRConfig(engine="rapidoc")
    with pytest.raises(ValueError, match="det_side"):
        OCRConfig(det_side=10)
    with pytest.raises(ValueError, match="min_score"):
        OCRConfig(min_score=1.5)
    with pytest.raises(ValueError, match="max_lines"):
        OCRConfig(max_lines=0)
    with pytest.raises(ValueError, match="min_stroke_contrast"):
        OCRConfig(min_stroke_contrast=0)


# Video text on busy backgrounds: the demo videos' signs (dark on a white box over a textured
# colour field, a big shape and a white disk), outlined captions and slides.

SIGN_TIMES = [1.0 + 10 * i for i in range(8)]  # one frame in each of 8 scenes


def _manifest(burn_text: bool = True) -> SampleManifest:
    """The scene plan of an 80 s, 640x360 sample video (frames are rendered, nothing is encoded)."""
    return SampleManifest(
        path="unused.mp4", duration=80.0, fps=5.0, size=(640, 360), seed=1,
        scenes=plan_scenes(80.0, 10.0, 1), burn_text=burn_text,
    )  # fmt: skip


def _busy_background(seed: int, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A photo-like busy frame: colour gradients, blotches, grain, and shapes and lines in many colours."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6, 3)
    image = np.stack([125 + 80 * np.sin(xx / 97 + p) * np.cos(yy / 71 - p) for p in phase], axis=-1)
    blotches = rng.uniform(-70, 70, (height // 9, width // 9, 3)).astype(np.float32)
    image += cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 10, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(14):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(image, (x, y), int(rng.integers(10, 70)), colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(15, 140)), y + int(rng.integers(10, 90))), colour, -1)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(image, (x, y), end, colour, int(rng.integers(1, 5)), cv2.LINE_AA)
    return image


def _outlined_caption(image: np.ndarray, text: str, y: int, scale: float = 1.0) -> np.ndarray:
    """White subtitle text with a 2-pixel black outline, centred, baseline at row ``y``."""
    font = cv2.FONT_HERSHEY_DUPLEX
    (width, _), _ = cv2.getTextSize(text, font, scale, 2)
    x = (image.shape[1] - width) // 2
    for dx in (-2, 0, 2):
        for dy in (-2, 0, 2):
            cv2.putText(image, text, (x + dx, y + dy), font, scale, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(image, text, (x, y), font, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return image


@pytest.fixture(scope="module")
def ocr() -> RapidOCRReader:
    engine = RapidOCRReader()
    engine.check_available()
    return engine


def test_ocr_reads_the_sample_signs_on_busy_frames(ocr: RapidOCRReader) -> None:
    manifest = _manifest()
    frames = [render_frame(manifest, t) for t in SIGN_TIMES]
    signs = [manifest.scene_at(t).sign for t in SIGN_TIMES]
    texts = ocr.read_texts(frames)
    read = [sign for sign, text in zip(signs, texts, strict=True) if sign in text.split()]
    assert len(read) >= 7, list(zip(signs, texts, strict=True))
    # The sign is all that is written there: shapes, disk and texture are not read as words.
    assert sum(text == sign for sign, text in zip(signs, texts, strict=True)) >= 6, texts


def test_ocr_reads_signs_from_decoded_video_frames(ocr: RapidOCRReader, tmp_path: Path) -> None:
    manifest = make_sample_video(tmp_path / "signs.mp4", duration=30.0, fps=2.0, size=(640, 360), seed=1)
    frames = {round(f.t): f.image for f in sample_frames(manifest.path, fps=1.0, max_side=640)}
    for t in (1, 11, 21):
        sign = manifest.scene_at(t).sign
        assert sign in ocr.read_text(frames[t]).split(), (t, sign)


def test_ocr_reads_outlined_captions_over_a_busy_background(ocr: RapidOCRReader) -> None:
    captions = [
        "the kettle is on the stove", "milk goes back in the fridge",
        "where did you park the car", "close the window please",
    ]  # fmt: skip
    found = total = extra = 0
    for seed, caption in enumerate(captions):
        frame = _outlined_caption(_busy_background(seed), caption, y=200 if seed % 2 else 320)
        words = ocr.read_text(frame).lower().split()
        expected = caption.split()
        assert sum(word in words for word in expected) >= 4, (caption, words)
        found += sum(word in words for word in expected)
        extra += sum(word not in expected for word in words)
        total += len(expected)
    assert found >= 0.85 * total and extra <= 2, (found, total, extra)


def test_ocr_reads_light_and_dark_slides_in_reading_order(ocr: RapidOCRReader) -> None:
    slide = np.full((360, 640, 3), 240, np.uint8)
    lines = ["Quarterly results", "Revenue grew twelve percent", "Questions and answers"]
    for i, line in enumerate(lines):
        cv2.putText(slide, line, (40, 80 + 90 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (30, 30, 70), 2, cv2.LINE_AA)
    expected = " ".join(lines)
    assert ocr.read_text(slide) == expected
    assert ocr.read_text(255 - slide) == expected  # light on dark
    assert ocr.read_text(cv2.cvtColor(slide, cv2.COLOR_RGB2GRAY)) == expected


def test_ocr_reads_nothing_on_frames_without_text(ocr: RapidOCRReader) -> None:
    manifest = _manifest(burn_text=False)
    frames = [render_frame(manifest, t) for t in SIGN_TIMES]
    frames += [_busy_background(seed) for seed in range(10, 14)]
    frames += [np.zeros((360, 640, 3), np.uint8), np.full((144, 176, 3), 200, np.uint8)]
    assert ocr.read_texts(frames) == [""] * len(frames)
