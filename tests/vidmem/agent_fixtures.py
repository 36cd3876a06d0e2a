"""A small indexed store with known subtitles, shared by the agent tests (import the fixture by name)."""

from __future__ import annotations

import pytest

from demos.sample_video import SIGNS_AND_CAPTIONS
from demos.subtitles import write_srt
from vidmem.ingest import IngestConfig, index_video


@pytest.fixture(scope="session")
def spoken_store(sample_video, tmp_path_factory):
    """(manifest, store dir): a 60 s generated video with one subtitle per scene, indexed without OCR."""
    video, manifest = sample_video(duration=60.0, fps=5.0, size=(320, 180), seed=3)
    folder = tmp_path_factory.mktemp("spoken")
    local = folder / "talk.mp4"
    local.write_bytes(video.read_bytes())
    write_srt(manifest.caption_spans(), folder / "talk.srt")
    store = folder / "store"
    index_video(local, store, IngestConfig(ocr=False))
    return manifest, store


def absent_captions(manifest) -> list[str]:
    """Captions of the sample vocabulary that the video never says."""
    said = {s.caption for s in manifest.scenes}
    return [c for _, c in SIGNS_AND_CAPTIONS if c not in said]
