"""Video input: grid sampling, backends, resume, clips, bad inputs, corrupt stretches, live sources.

Every input is generated here: a sample video with known scenes (``demos.sample_video``) and small
videos whose frames carry their own frame number as an 8-bit barcode, written with PyAV at chosen
timestamps (constant or variable frame rate).
"""

from __future__ import annotations

import inspect
import re
import tracemalloc
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from demos.sample_video import make_sample_video, render_frame
from tests.factories import mdat_garbage, moov_at_end_truncated, overwrite, unknown_codec
from vidmem.errors import VideoError, VideoWarning
from vidmem.io import LiveSource, SampledFrame, chunk_clips, is_live_source, probe_video, sample_frames

BACKENDS = ["decord", "pyav"]
W, H = 128, 96


# ----------------------------------------------------------------------------------------------
# Generated inputs


def barcode(n: int) -> np.ndarray:
    """A frame showing ``n % 256`` as 8 black/white columns. ``uint8 [H,W,3]``."""
    image = np.full((H, W, 3), 60, np.uint8)
    for bit in range(8):
        if (n >> bit) & 1:
            image[: H // 2, bit * 16 : (bit + 1) * 16] = 255
        else:
            image[: H // 2, bit * 16 : (bit + 1) * 16] = 0
    return image


def read_barcode(image: np.ndarray) -> int:
    """Inverse of ``barcode`` on a decoded (lossy) frame."""
    columns = [image[8 : H // 2 - 8, b * 16 + 4 : (b + 1) * 16 - 4].mean() for b in range(8)]
    return sum(1 << b for b, value in enumerate(columns) if value > 128)


def write_video(path: Path, times: list[float], fmt: str | None = None, gop: int = 10) -> Path:
    """Write frames ``barcode(i)`` at ``times[i]`` seconds (ms precision) with libx264."""
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"preset": "ultrafast"}
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(barcode(i), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def cbr_times(n: int, fps: float = 10.0) -> list[float]:
    return [i / fps for i in range(n)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("io")
    manifest = make_sample_video(
        root / "sample.mp4", duration=20.0, fps=10.0, size=(320, 180), scene_seconds=5.0, seed=3
    )
    vfr_times = [0.0, 0.1, 0.15, 0.4, 0.45, 1.3, 1.35, 2.9, 3.0, 3.05, 4.7, 5.2, 6.0, 6.5, 7.0, 7.9, 8.2]
    return {
        "root": root,
        "manifest": manifest,
        "sample": Path(manifest.path),
        "vfr_times": vfr_times,
        "vfr": write_video(root / "vfr.mp4", vfr_times),
        "long_gop": write_video(root / "long_gop.mp4", cbr_times(150), gop=300),
        "mp4": write_video(root / "cbr.mp4", cbr_times(300)),
        "mkv": write_video(root / "cbr.mkv", cbr_times(300)),
        "ts": write_video(root / "cbr.ts", cbr_times(300), fmt="mpegts"),
    }


def ids_by_k(frames: list[SampledFrame]) -> dict[int, int]:
    return {f.k: read_barcode(f.image) for f in frames}


# ----------------------------------------------------------------------------------------------
# Grid sampling


@pytest.mark.parametrize("backend", BACKENDS)
def test_1fps_samples_sit_on_the_grid_and_match_the_rendered_frames(media: dict, backend: str) -> None:
    frames = list(sample_frames(media["sample"], fps=1.0, backend=backend))
    assert [f.k for f in frames] == list(range(20))
    assert [f.t for f in frames] == [float(k) for k in range(20)]
    assert [f.pts for f in frames] == pytest.approx([float(k) for k in range(20)], abs=1e-9)
    for f in frames:
        assert f.image.dtype == np.uint8 and f.image.shape == (180, 320, 3)
        expected = render_frame(media["manifest"], f.t).astype(np.int16)
        assert np.abs(f.image.astype(np.int16) - expected).mean() < 6
    # the moving disk makes samples one second apart clearly different
    assert np.abs(frames[1].image.astype(np.int16) - frames[2].image).mean() > 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_samples_the_frame_showing_at_each_grid_time(media: dict, backend: str) -> None:
    times = media["vfr_times"]
    frames = list(sample_frames(media["vfr"], fps=2.0, backend=backend))
    assert frames and [f.k for f in frames] == list(range(len(frames)))
    for f in frames:
        showing = max(i for i, t in enumerate(times) if t <= f.t + 1e-9)
        assert f.pts == pytest.approx(times[showing], abs=1e-6), f.k
        assert read_barcode(f.image) == showing, f.k
    # a frame exactly on a grid time (3.0 s) is the one used at that time
    assert frames[6].t == 3.0 and frames[6].pts == pytest.approx(3.0)
    # the last grid time sampled is the last one before the final frame (8.2 s) stops showing
    assert frames[-1].t == 8.0 and frames[-1].pts == pytest.approx(7.9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_from_start_gives_the_tail_of_a_full_run(media: dict, backend: str) -> None:
    cases = [("sample", 1.0, 7.3), ("sample", 2.5, 13.0), ("long_gop", 3.0, 9.1), ("vfr", 2.0, 3.0)]
    if backend == "pyav":
        cases.append(("ts", 1.0, 12.0))  # MPEG-TS seeks by byte position and may overshoot
    for key, fps, start in cases:
        full = list(sample_frames(media[key], fps=fps, backend=backend))
        part = list(sample_frames(media[key], fps=fps, start=start, backend=backend))
        tail = [f for f in full if f.k >= part[0].k]
        assert part[0].k == int(np.ceil(start * fps)) and part[0].t >= start
        assert [(f.k, f.t, f.pts) for f in part] == [(f.k, f.t, f.pts) for f in tail]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(part, tail, strict=True))


def test_a_seek_that_lands_after_the_resume_time_is_retried_further_back(
    media: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = list(sample_frames(media["mkv"], fps=1.0, backend="pyav"))
    # the first try seeks 3 s *after* the resume time, as an overshooting demuxer would
    monkeypatch.setattr("vidmem.io.decode._SEEK_MARGINS", (-3.0, 1.0))
    part = list(sample_frames(media["mkv"], fps=1.0, start=12.0, backend="pyav"))
    assert [(f.k, f.pts) for f in part] == [(f.k, f.pts) for f in full[12:]]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(part, full[12:], strict=True))


@pytest.mark.parametrize("key", ["sample", "vfr", "mkv"])
def test_decord_and_pyav_choose_the_same_frames(media: dict, key: str) -> None:
    by_decord = list(sample_frames(media[key], fps=3.0, backend="decord"))
    by_pyav = list(sample_frames(media[key], fps=3.0, backend="pyav"))
    assert [(f.k, f.pts) for f in by_decord] == [(f.k, f.pts) for f in by_pyav]
    for a, b in zip(by_decord, by_pyav, strict=True):
        assert np.abs(a.image.astype(np.int16) - b.image).mean() < 1.0


def test_max_side_downscales_keeping_the_aspect(media: dict) -> None:
    for backend in BACKENDS:
        frame = next(sample_frames(media["sample"], fps=1.0, backend=backend, max_side=160))
        assert frame.image.shape == (90, 160, 3)


def test_mpegts_is_decoded_with_pyav_and_sampled_on_the_grid(media: dict) -> None:
    assert probe_video(media["ts"]).backend == "pyav"
    frames = list(sample_frames(media["ts"], fps=1.0))
    assert [f.k for f in frames] == list(range(30))
    assert all(read_barcode(f.image) == 10 * f.k % 256 for f in frames)


def test_bad_sampling_arguments_are_refused(media: dict) -> None:
    for kwargs in ({"fps": 0.0}, {"fps": float("nan")}, {"start": -1.0}, {"max_side": 0}, {"backend": "x"}):
        with pytest.raises(ValueError):
            sample_frames(media["sample"], **kwargs)


def test_probe_video_describes_the_file(media: dict) -> None:
    info = probe_video(media["sample"])
    assert (info.duration, info.fps, info.width, info.height) == (20.0, 10.0, 320, 180)
    # auto decodes files with PyAV (decord's path grew with video length under OCR, issue 12)
    assert info.n_frames == 200 and info.backend == "pyav"
    assert probe_video(media["sample"], backend="decord").backend == "decord"
    with pytest.raises(ValueError, match="unknown video backend"):
        probe_video(media["sample"], backend="ffmpeg")


def test_sampling_streams_instead_of_materialising_the_video(media: dict) -> None:
    for backend in BACKENDS:
        frames = sample_frames(media["sample"], fps=10.0, backend=backend)
        assert inspect.isgenerator(frames)
        all_frames_bytes = 200 * 320 * 180 * 3  # 34 MB if the video were held in memory
        tracemalloc.start()
        try:
            count = sum(1 for _ in frames)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == 200
        assert peak < all_frames_bytes / 4


# ----------------------------------------------------------------------------------------------
# Clips


def fake_samples(ks: range, fps: float) -> list[SampledFrame]:
    return [SampledFrame(k, k / fps, k / fps, np.full((4, 6, 3), k, np.uint8)) for k in ks]


def test_chunk_clips_groups_grid_steps_with_stable_indices() -> None:
    clips = list(chunk_clips(fake_samples(range(10), 2.0), fps=2.0, clip_seconds=2.0, stream_id="cam", duration=4.8))
    assert [c.index for c in clips] == [0, 1, 2]
    assert [(c.t_start, c.t_end) for c in clips] == [(0.0, 2.0), (2.0, 4.0), (4.0, 4.8)]
    assert [c.frames.shape for c in clips] == [(4, 4, 6, 3), (4, 4, 6, 3), (2, 4, 6, 3)]
    assert clips[1].frames.dtype == np.uint8 and clips[1].stream_id == "cam"
    assert clips[1].timestamps.tolist() == [2.0, 2.5, 3.0, 3.5]
    # a run resumed at k=6 puts its first frames in the same clip 1, not a new clip 0
    resumed = list(chunk_clips(fake_samples(range(6, 10), 2.0), fps=2.0, clip_seconds=2.0))
    assert [c.index for c in resumed] == [1, 2]
    assert resumed[0].t_start == 2.0 and resumed[0].timestamps.tolist() == [3.0, 3.5]
    assert resumed[1].t_end == 6.0


def test_chunk_clips_on_a_sampled_video(media: dict) -> None:
    frames = sample_frames(media["sample"], fps=2.0)
    clips = list(chunk_clips(frames, fps=2.0, clip_seconds=2.0, stream_id="s", duration=20.0))
    assert [c.index for c in clips] == list(range(10))
    assert all(c.frames.shape == (4, 180, 320, 3) for c in clips)
    assert all(c.t_start <= ts <= c.t_end for c in clips for ts in c.timestamps)


# ----------------------------------------------------------------------------------------------
# Bad input


BAD_INPUTS = {
    "missing": (lambda m, root: root / "nope.mp4", "not found"),
    "directory": (lambda m, root: root, "directory"),
    "text": (lambda m, root: _write(root / "notes.txt", b"hello, this is not a video\n" * 50), "not a video"),
    "random bytes": (lambda m, root: _write(root / "noise.mp4", np.random.default_rng(0).bytes(50_000)), "not a video"),
    "moov-at-end mp4 cut at 30%": (lambda m, root: moov_at_end_truncated(m["mp4"], root / "cut.mp4"), "truncated"),
    "mkv cut at 30%": (lambda m, root: _cut(m["mkv"], root / "cut.mkv", 0.3), "truncated"),
    "no decodable frames": (lambda m, root: mdat_garbage(m["mp4"], root / "garbage.mp4"), "no decodable"),
    "unsupported codec": (lambda m, root: unknown_codec(m["mkv"], root / "codec.mkv"), "V_QQQQQ/ISO/AVC"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _cut(src: Path, out: Path, fraction: float) -> Path:
    data = src.read_bytes()
    return _write(out, data[: int(len(data) * fraction)])


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_a_one_line_error_naming_the_file(media: dict, tmp_path: Path, case: str) -> None:
    make, expected = BAD_INPUTS[case]
    path = make(media, tmp_path)
    for call in (
        lambda: sample_frames(path),
        lambda: probe_video(path),
        lambda: sample_frames(path, backend="pyav"),
    ):
        with pytest.raises(VideoError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message and len(message) < 300
        assert str(path) in message
        assert expected in message


# ----------------------------------------------------------------------------------------------
# Corrupt stretches


@pytest.mark.parametrize("key", ["ts", "mkv", "mp4"])
@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_corrupt_middle_is_skipped_with_a_warning_and_the_rest_kept(
    media: dict, tmp_path: Path, key: str, backend: str
) -> None:
    src = media[key]
    path = overwrite(src, tmp_path / f"corrupt{src.suffix}", 0.45, 0.55)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = list(sample_frames(path, fps=1.0, backend=backend))
    ids = ids_by_k(frames)
    assert all(ids[k] == 10 * k % 256 for k in range(10)), ids  # before the damage
    assert all(ids[k] == 10 * k % 256 for k in range(22, 30)), ids  # after it
    assert all(f.pts <= f.t + 1e-6 for f in frames)
    messages = [str(w.message) for w in caught if issubclass(w.category, VideoWarning)]
    ranges = [re.search(r"skipped unreadable data from ([\d.]+) s to ([\d.]+) s$", m) for m in messages]
    ranges = [r for r in ranges if r]
    assert ranges and all(m.startswith(f"{path}: ") for m in messages), messages
    t0, t1 = float(ranges[0].group(1)), float(ranges[0].group(2))
    assert 9.0 < t0 < t1 < 22.0
    missing = set(range(30)) - set(ids)
    assert missing and all(t0 < k < t1 for k in missing)
    if key == "mp4" and backend == "decord":  # decord fails on the garbage and PyAV carries on
        assert any(m.endswith("continuing with PyAV") for m in messages), messages


# ----------------------------------------------------------------------------------------------
# Live sources


def test_live_source_specs() -> None:
    assert is_live_source(0) and is_live_source("0") and is_live_source("rtsp://cam.local/stream")
    assert is_live_source("http://example.com/live.m3u8")
    assert not is_live_source("video.mp4") and not is_live_source("file:///tmp/x.mp4")


def test_opencv_reads_a_file_as_a_stream_timed_by_the_container(media: dict) -> None:
    frames = list(sample_frames(media["vfr"], fps=2.0, backend="opencv"))
    reference = list(sample_frames(media["vfr"], fps=2.0, backend="pyav"))
    # a stream does not say how long its last frame shows, so it may get one more grid time
    assert len(reference) <= len(frames) <= len(reference) + 1
    frames = frames[: len(reference)]
    assert [(f.k, round(f.pts, 3)) for f in frames] == [(f.k, round(f.pts, 3)) for f in reference]
    assert [read_barcode(f.image) for f in frames] == [read_barcode(f.image) for f in reference]


class FakeCamera:
    """A camera that gives no timestamps (CAP_PROP_POS_MSEC is 0); frame n arrives at n * 0.3 s."""

    def __init__(self, clock: list[float], n: int = 12) -> None:
        self.clock, self.n, self.read_count, self.released = clock, n, 0, False

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.read_count >= self.n:
            return False, None
        self.clock[0] = 100.0 + 0.3 * self.read_count
        image = barcode(self.read_count)[..., ::-1].copy()  # OpenCV gives BGR
        self.read_count += 1
        return True, image

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released = True


def test_live_source_without_timestamps_is_timed_by_the_wall_clock() -> None:
    clock = [0.0]
    camera = FakeCamera(clock)
    source = LiveSource("0", capture=camera, clock=lambda: clock[0])
    frames = list(sample_frames(source, fps=1.0))
    arrival = [0.3 * n for n in range(12)]  # 0 .. 3.3 s after the first frame
    assert [f.k for f in frames] == [0, 1, 2, 3]
    for f in frames:
        showing = max(n for n, t in enumerate(arrival) if t <= f.t + 1e-9)
        assert read_barcode(f.image) == showing
        assert f.pts == pytest.approx(arrival[showing])
    source.close()
    assert camera.released
