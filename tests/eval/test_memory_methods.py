"""``vidmem eval memory``: baseline memories, boundary F1, SORT, and the methods side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.memory_compare import parse_boundaries
from eval.memory_methods import boundary_f1, fifo, moviechat, sort_accuracy, sort_pairs, uniform
from vidmem.cli import main
from vidmem.errors import VidmemError


def _three_events(frames_each: int = 10, dim: int = 32, seed: int = 0):
    """Frames at 1 fps of three events, each a distinct direction plus small noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim))
    vectors = np.concatenate([c + 0.05 * rng.normal(size=(frames_each, dim)) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.arange(len(vectors), dtype=float), vectors.astype(np.float32)


def test_moviechat_merges_each_event_into_one_entry():
    times, vectors = _three_events()
    memory = moviechat(times, vectors, budget=3, step=1.0)
    assert memory.t_start.tolist() == [0, 10, 20] and memory.t_end.tolist() == [10, 20, 30]
    assert memory.locate(vectors[14]) == 15.0  # the middle of the event holding frame 14


def test_uniform_spreads_and_fifo_keeps_the_end():
    times, vectors = _three_events()
    assert uniform(times, vectors, 4, 1.0).t_start.tolist() == [0, 10, 19, 29]
    recent = fifo(times, vectors, 4, 1.0)
    assert recent.t_start.tolist() == [26, 27, 28, 29]
    assert recent.locate(vectors[2]) >= 26  # the start is gone: an early frame lands at the end
    assert recent.nbytes == uniform(times, vectors, 4, 1.0).nbytes == 4 * (32 * 2 + 8)


def test_boundaries_come_at_event_changes():
    times, vectors = _three_events()
    assert uniform(times, vectors, 30, 1.0).boundaries() == [10.0, 20.0]
    assert fifo(times, vectors, 8, 1.0).boundaries() == []  # the FIFO only saw the last event


def test_boundary_f1_matches_each_truth_once():
    assert boundary_f1([1.0, 1.1, 5.0], [1.2, 5.5], 1.0) == {"precision": 0.6667, "recall": 1.0, "f1": 0.8}
    assert boundary_f1([], [1.0], 1.0)["f1"] == 0.0
    assert boundary_f1([3.0], [1.0], 1.0)["f1"] == 0.0


def test_sort_pairs_and_accuracy():
    pairs = sort_pairs(30.0, 50, clip=1.0, gap=2.0)
    assert len(pairs) == 50 and all(b >= a + 3.0 and b + 1.0 <= 30.0 for a, b in pairs)
    assert sort_pairs(3.0, 5, clip=1.0, gap=2.0) == []  # too short for two clips with a gap
    assert sort_accuracy([(1.0, 2.0), (3.0, 3.0), (5.0, 4.0), (0.0, 9.0)]) == 0.5  # a tie is wrong
    assert sort_accuracy([]) is None


def test_parse_boundaries(tmp_path):
    f = tmp_path / "b.json"
    f.write_text(json.dumps({"videos/a.mp4": [1, 2.5]}))
    assert parse_boundaries([str(f), "scene_cuts.mp4=1.2,5.5"]) == {"a.mp4": [1.0, 2.5], "scene_cuts.mp4": [1.2, 5.5]}
    with pytest.raises(VidmemError, match="NAME=t1,t2"):
        parse_boundaries(["1.2,5.5"])
    with pytest.raises(VidmemError, match="seconds separated by commas"):
        parse_boundaries(["a.mp4=one,two"])


@pytest.mark.slow
def test_eval_memory_puts_the_methods_side_by_side(sample_video, tmp_path, capsys):
    video, manifest = sample_video(duration=30.0, fps=5.0, scene_seconds=10.0)
    cuts = [s.t_start for s in manifest.scenes[1:]]
    argv = ["eval", "memory", "--video", str(video), "--work", str(tmp_path), "--sort-pairs", "6",
            "--boundaries", f"{video.name}={','.join(map(str, cuts))}", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["videos"] == [video.name] and list(out["methods"]) == ["vidmem", "uniform", "fifo", "moviechat"]
    methods = out["methods"]
    for name, figures in methods.items():
        assert {"sort_accuracy", "boundary_f1", "caption_top1", "needle_recall", "bytes_per_hour"} <= set(figures)
        assert figures["caption_top1"] is None and figures["needle_recall"] is None  # no captions, no --needle
        assert figures["bytes_per_hour"] == methods["vidmem"]["bytes_per_hour"], name  # one byte budget
        assert figures["sort_pairs"] == 6 and 0.0 <= figures["sort_accuracy"] <= 1.0
    assert methods["vidmem"]["boundary_f1"] == 1.0 and methods["moviechat"]["boundary_f1"] == 1.0
    assert methods["vidmem"]["store_bytes_per_hour"] > methods["vidmem"]["bytes_per_hour"]
    per_video = out["results"][0]["methods"]
    assert min(per_video["fifo"]["boundaries"], default=99) > 10.0  # the FIFO forgot the first cut
    assert out["results"][0]["frame_retrieval"]["questions"] == 10  # the earlier benchmark still runs
