"""Video input: probe files and streams, sample frames on a time grid, cut samples into clips."""

from vidmem.io.live import LiveSource
from vidmem.io.sampler import SampledFrame, chunk_clips, first_grid_index, output_size, sample_frames
from vidmem.io.sources import VideoInfo, is_live_source, probe_video

__all__ = [
    "LiveSource",
    "SampledFrame",
    "VideoInfo",
    "chunk_clips",
    "first_grid_index",
    "is_live_source",
    "output_size",
    "probe_video",
    "sample_frames",
]
