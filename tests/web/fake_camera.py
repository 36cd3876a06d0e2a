"""A fake camera clip for Chromium: sample-video scenes of known content written as a .y4m file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from demos.sample_video import SampleManifest, plan_scenes, render_frame


def fake_camera_clip(path: Path, scenes: int = 3, scene_seconds: float = 4.0, fps: int = 10, seed: int = 5):
    """Writes ``path`` (YUV4MPEG2, 4:2:0, 320x180) and returns its manifest (scene ``i`` covers
    ``[i * scene_seconds, (i + 1) * scene_seconds)``; Chromium loops the file)."""
    duration = scenes * scene_seconds
    manifest = SampleManifest(
        path=str(path), duration=duration, fps=fps, size=(320, 180), seed=seed,
        scenes=plan_scenes(duration, scene_seconds, seed), scene_seconds=scene_seconds,
    )  # fmt: skip
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W320 H180 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(int(duration * fps)):
            rgb = render_frame(manifest, i / fps)
            out.write(b"FRAME\n" + np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)).tobytes())
    return manifest
