"""Shared fixtures: generated videos with known content, cached for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory):
    """Factory: ``sample_video(duration=60, fps=5, size=(320, 180), ...) -> (path, manifest)``.

    Videos are made once per parameter set and shared by every test of the session.
    """
    from demos.sample_video import make_sample_video

    cache: dict[tuple, tuple[Path, object]] = {}
    folder = tmp_path_factory.mktemp("videos")

    def make(
        duration: float = 60.0,
        fps: float = 5.0,
        size: tuple[int, int] = (320, 180),
        scene_seconds: float = 10.0,
        seed: int = 0,
        burn_text: bool = True,
    ):
        key = (duration, fps, size, scene_seconds, seed, burn_text)
        if key not in cache:
            path = folder / f"sample_{len(cache)}.mp4"
            manifest = make_sample_video(
                path, duration=duration, fps=fps, size=size, scene_seconds=scene_seconds, seed=seed, burn_text=burn_text
            )
            cache[key] = (path, manifest)
        return cache[key]

    return make
