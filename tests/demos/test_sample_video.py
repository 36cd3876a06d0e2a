"""The sample-video generator: known content at known times, reproducible frames, manifest round trip."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from demos.sample_video import (
    OBJECTS,
    SIGNS_AND_CAPTIONS,
    SampleManifest,
    main,
    make_sample_video,
    manifest_path_for,
    plan_scenes,
    render_frame,
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleManifest:
    path = tmp_path_factory.mktemp("sample") / "clip.mp4"
    return make_sample_video(path, duration=12.0, fps=5.0, size=(320, 180), scene_seconds=4.0, seed=11)


def decoded_frames(path: str) -> list[tuple[float, np.ndarray]]:
    with av.open(path) as container:
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def test_video_and_manifest_are_written(sample: SampleManifest) -> None:
    path = Path(sample.path)
    assert path.is_file() and manifest_path_for(path).is_file()
    assert manifest_path_for(path).name == "clip.manifest.json"
    with av.open(sample.path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("h264", "mpeg4")
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 180)
    frames = decoded_frames(sample.path)
    assert len(frames) == sample.n_frames == 60
    assert [t for t, _ in frames] == pytest.approx([i / 5 for i in range(60)])


def test_manifest_round_trips_through_json(sample: SampleManifest) -> None:
    loaded = SampleManifest.load(manifest_path_for(sample.path))
    assert loaded == sample
    assert SampleManifest.from_json(json.dumps(sample.to_json())) == sample
    assert SampleManifest.from_json(sample.to_json()).scenes[1].color == sample.scenes[1].color


def test_scenes_tile_the_video_and_scene_at_finds_them(sample: SampleManifest) -> None:
    assert [(s.t_start, s.t_end) for s in sample.scenes] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    assert sample.scene_at(0.0).index == 0 and sample.scene_at(3.99).index == 0
    assert sample.scene_at(4.0).index == 1 and sample.scene_at(12.0).index == 2
    assert sample.scene_at(-0.1) is None and sample.scene_at(12.1) is None
    for scene in sample.scenes:
        assert (scene.label, scene.shape, scene.color) in OBJECTS
        assert (scene.sign, scene.caption) in SIGNS_AND_CAPTIONS and scene.sign.isupper()


def test_long_videos_repeat_labels_but_never_back_to_back() -> None:
    scenes = plan_scenes(600.0, 10.0, seed=0)
    labels = [s.label for s in scenes]
    assert len(scenes) == 60 and len(set(labels)) == len(OBJECTS)
    assert all(a != b for a, b in pairwise(labels))
    assert all(a.sign != b.sign for a, b in pairwise(scenes))
    assert len({s.sign for s in scenes[:16]}) == 16  # signs and captions are unique while they last
    assert len({s.caption for s in scenes[:16]}) == 16
    assert plan_scenes(600.0, 10.0, seed=0) == scenes and plan_scenes(600.0, 10.0, seed=1) != scenes


def test_render_frame_reproduces_the_encoded_frames(sample: SampleManifest) -> None:
    for t, image in decoded_frames(sample.path)[::7]:
        expected = render_frame(sample, t + 0.01)
        assert expected.shape == image.shape and expected.dtype == np.uint8
        assert np.abs(expected.astype(np.int16) - image).mean() < 6
    assert np.array_equal(render_frame(sample, 5.3), render_frame(sample, 5.3))


def test_frames_differ_within_a_scene_and_between_scenes(sample: SampleManifest) -> None:
    def diff(a: float, b: float) -> float:
        return float(np.abs(render_frame(sample, a).astype(np.int16) - render_frame(sample, b)).mean())

    assert diff(1.0, 2.0) > 2  # the disk moved
    assert diff(2.0, 6.0) > 20  # a new background, object and sign
    # the sign is drawn black on white in the top-left corner
    corner = render_frame(sample, 1.0)[8:40, 8:40]
    assert (corner == 255).all(axis=2).mean() > 0.3
    plain = make_sample_video(
        Path(sample.path).with_name("plain.mp4"), duration=1.0, fps=2.0, size=(320, 180), seed=11, burn_text=False
    )
    assert not (render_frame(plain, 0.0)[8:40, 8:40] == 255).all(axis=2).any()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_sample_video(tmp_path / "x.mp4", duration=0)
    with pytest.raises(ValueError):
        make_sample_video(tmp_path / "x.mp4", size=(321, 180))


def test_subtitles_carry_the_scene_captions(sample: SampleManifest) -> None:
    srt = sample.to_srt()
    assert srt.startswith("1\n00:00:00,500 --> 00:00:03,500\n" + sample.scenes[0].caption)
    assert srt.count(" --> ") == len(sample.scenes)


def test_command_line_prints_the_manifest_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.mp4"
    assert main([str(out), "--duration", "2", "--fps", "4", "--size", "160x90", "--srt"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(manifest_path_for(out))
    manifest = SampleManifest.load(printed)
    assert manifest.size == (160, 90) and manifest.n_frames == 8
    assert out.with_suffix(".srt").is_file()
