"""The needle benchmark's code paths on generated videos: joining, footage dedup, scoring."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from eval.needle import Query, ask_needles, build_joined_video, distinct_videos, needle_benchmark
from eval.transforms import TRANSFORMS, apply


def test_every_transformation_returns_an_rgb_picture():
    image = np.random.default_rng(0).integers(0, 256, (180, 320, 3), dtype=np.uint8)
    for name in TRANSFORMS:
        out = apply(name, image, np.random.default_rng(1))
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name
    assert apply("scale320", np.zeros((360, 640, 3), np.uint8), None).shape == (180, 320, 3)


def test_a_copy_of_a_video_is_left_out_as_shared_footage(sample_video, tmp_path):
    a, _ = sample_video(duration=8.0, fps=5, size=(320, 180), scene_seconds=2.0, seed=11, burn_text=False)
    b, _ = sample_video(duration=8.0, fps=5, size=(320, 180), scene_seconds=2.0, seed=12, burn_text=False)
    copy = tmp_path / "copy.mp4"
    shutil.copy(a, copy)
    kept, skipped = distinct_videos([a, b, copy])
    assert kept == [a, b] and skipped == {"copy.mp4": a.name}


@pytest.mark.slow
def test_joined_video_places_each_original_once_and_is_scored(sample_video, tmp_path):
    a, ma = sample_video(duration=8.0, fps=5, size=(320, 180), scene_seconds=2.0, seed=11, burn_text=False)
    b, _ = sample_video(duration=8.0, fps=5, size=(320, 180), scene_seconds=2.0, seed=12, burn_text=False)
    _, offsets = build_joined_video([a, b], tmp_path / "j", minutes=1.0)
    assert set(offsets) == {str(a), str(b)} and offsets[str(a)] < offsets[str(b)]
    result = needle_benchmark([a, b], tmp_path, minutes=1.0, per_video=1)
    joined_recall = result["joined_setting"]["needle_recall"]
    assert set(joined_recall) == set(TRANSFORMS)
    assert joined_recall["identity"] == 1.0 and result["videos_setting"]["needle_recall"]["identity"] == 1.0
    # a query whose frame is put at the wrong time counts as a miss
    from demos.sample_video import render_frame

    wrong = [Query(a, 1.0, render_frame(ma, 6.5))]
    scored = ask_needles(tmp_path / "needle-joined-store", wrong, offsets, ("identity",))
    assert scored["needle_recall"]["identity"] == 0.0
