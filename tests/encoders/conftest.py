"""Factories for encoder tests: generated frames with known content, and a subprocess runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Two scenes that differ in palette and structure, like two rooms.
_SCENES = {
    "meadow": {"sky": (110, 170, 235), "ground": (60, 140, 50), "horizon": 0.55, "stripes": False},
    "harbour": {"sky": (230, 200, 150), "ground": (40, 60, 120), "horizon": 0.35, "stripes": True},
}


def render_scene(scene: str, disk_x: int, disk_y: int = 150, size: tuple[int, int] = (640, 360), seed: int = 0):
    """One ``uint8 [H,W,3]`` RGB frame of ``scene`` with a red disk (radius 50) centred at (disk_x, disk_y)."""
    spec = _SCENES[scene]
    width, height = size
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    horizon = int(height * spec["horizon"])
    shade = np.linspace(0.7, 1.0, horizon, dtype=np.float32)[:, None, None]
    frame[:horizon] = (np.array(spec["sky"], dtype=np.float32) * shade).astype(np.uint8)
    frame[horizon:] = spec["ground"]
    if spec["stripes"]:
        for x in range(0, width, 60):
            cv2.line(frame, (x, horizon), (x + 30, height), (200, 200, 60), 4)
    else:
        cv2.rectangle(frame, (40, horizon + 20), (200, height - 20), (120, 90, 40), -1)
    cv2.circle(frame, (disk_x, disk_y), 50, (220, 40, 40), -1)
    noise = np.random.default_rng(seed).integers(0, 6, frame.shape, dtype=np.uint8)
    return cv2.add(frame, noise)


@pytest.fixture
def make_scene() -> Callable[..., np.ndarray]:
    """Factory: ``make_scene(scene, disk_x, ...) -> uint8 [H,W,3]``."""
    return render_scene


@pytest.fixture
def make_clip_frames() -> Callable[[int], np.ndarray]:
    """Factory: ``n`` frames sampled seconds apart from a generated video, ``uint8 [n,360,640,3]``.

    The camera cuts between the two scenes every 3 samples and the disk crosses the frame, so no two
    samples are the same picture.
    """

    def make(n: int) -> np.ndarray:
        frames = []
        for i in range(n):
            scene = "meadow" if (i // 3) % 2 == 0 else "harbour"
            frames.append(render_scene(scene, disk_x=60 + 45 * i, disk_y=120 + 10 * (i % 3), seed=i))
        return np.stack(frames)

    return make


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> dict:
    """Runs ``code`` in a fresh interpreter (repo on the path); returns the JSON it prints last."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"subprocess failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
