"""Detail frames: a fast pan keeps more frame vectors than the 1 fps grid, still footage none."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from encoders.classical import ClassicalEncoder
from eval.transforms import apply
from tests.vidmem.test_source_check import SIZE, _write_video
from vidmem.agent.reader import MemoryReader
from vidmem.detail_frames import DetailFrames, detail_ratio
from vidmem.ingest import IngestConfig, index_video
from vidmem.io import SampledFrame
from vidmem.storage.store import MemoryStore

PAN_SPEED = 420.0
"""Pixels a second the camera sweeps over the panorama from 2 s to 4 s (80 px between 5 fps frames)."""


def _panorama(seed: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (6, width // 48, 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (width, SIZE[1]), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


PANORAMA = _panorama(3, SIZE[0] + int(2 * PAN_SPEED) + 8)


def _frame_at(t: float) -> np.ndarray:
    """Still 0-2 s, a fast pan 2-4 s, still again 4-6 s (at the pan's last view)."""
    x = int(PAN_SPEED * min(max(t - 2.0, 0.0), 2.0))
    return np.ascontiguousarray(PANORAMA[:, x : x + SIZE[0]])


@pytest.fixture(scope="module")
def pan_stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pan")
    path = _write_video(folder / "pan.mp4", _frame_at, 6.0)
    base = dict(ocr=False, speech=False, keypoints=False)
    with_details, without = folder / "details.mem", folder / "grid.mem"
    index_video(path, with_details, IngestConfig(**base))  # the classical default: 5 fps details
    index_video(path, without, IngestConfig(detail_fps=0, **base))
    return with_details, without


def _frames_per_clip(store) -> dict[float, int]:
    with MemoryStore(store) as s:
        ids = s.select_ids("episodic", "clip")
        entries = {e.id: e for e in s.get_entries(ids)}
        return {entries[i].t_start: len(v) for i, v in s.frame_vectors(ids).items()}


def test_a_fast_pan_keeps_detail_frames_and_still_footage_keeps_none(pan_stores):
    with_details, without = pan_stores
    assert _frames_per_clip(without) == {0.0: 2, 2.0: 2, 4.0: 2}
    counts = _frames_per_clip(with_details)
    assert counts[0.0] == 2 and counts[4.0] == 2, counts
    assert counts[2.0] >= 6, counts  # most of the 8 in-between frames of the pan


@pytest.mark.parametrize("t", [2.6, 3.4])
def test_a_crop_of_a_frame_between_grid_samples_finds_the_pan(pan_stores, t):
    """Between grid frames a second apart (420 px of pan), only the detail frames hold the view."""
    query = apply("crop70", _frame_at(t), np.random.default_rng(int(t * 10)))
    encoder = ClassicalEncoder()
    best = {}
    for name, store in zip(("details", "grid"), pan_stores, strict=True):
        with MemoryStore(store) as s:
            hits = MemoryReader(s, encoder, None).search_image(query, encoder.encode_images(query[None])[0], 3)
            best[name] = hits[0]
    assert best["details"].entry.t_start == 2.0
    assert best["details"].score > best["grid"].score + 0.05, (best["details"].score, best["grid"].score)


def test_detail_ratio_wants_a_whole_multiple_of_the_sampling_rate():
    assert detail_ratio(0, 1.0) == 0
    assert detail_ratio(5.0, 1.0) == 5
    assert detail_ratio(4.0, 2.0) == 2
    for bad in (1.0, 1.5, 2.5):
        with pytest.raises(ValueError, match="whole multiple"):
            detail_ratio(bad, 1.0)
    with pytest.raises(ValueError, match="whole multiple"):
        IngestConfig(detail_fps=3.0, fps=2.0)


def test_grid_frames_pass_through_renumbered_and_details_belong_to_their_clip():
    """Frames at 5 per grid step: grid ones come out as k // 5; changed in-between ones are kept per clip."""
    encoder = ClassicalEncoder()
    still = np.full((90, 160, 3), 100, np.uint8)
    scenes = [_panorama(s, 160)[:90] for s in range(10)]
    frames = [SampledFrame(k, k / 5, k / 5, still if k < 10 else scenes[k % 10]) for k in range(20)]
    details = DetailFrames(encoder, ratio=5, per_clip=2)
    grid = list(details.grid(frames))
    assert [f.k for f in grid] == [0, 1, 2, 3]
    assert [f.t for f in grid] == [0.0, 1.0, 2.0, 3.0]
    assert details.take(0) is None  # the first clip (grid 0-1) is one still picture
    kept = details.take(1)
    assert kept is not None and len(kept) == 8  # every in-between frame of clip 1 is another scene
    assert details.take(1) is None  # taken once
