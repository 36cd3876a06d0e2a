"""Streaming clip condenser: K tokens per clip, memory propagation, training, and tokens in a store."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.condenser import (
    CONDENSERS,
    KMeansCondenserConfig,
    LearnedCondenser,
    LearnedCondenserConfig,
    build_condenser,
    train_condenser,
)
from encoders.registry import UnknownComponentError


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _event(centre, n, rng, noise=0.05):
    return _unit(centre + noise * rng.normal(size=(n, centre.shape[0])))


def test_kmeans_tokens_cover_the_clip_and_are_unit():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.normal(size=(2, 32)))
    frames = np.concatenate([_event(a, 5, rng), _event(b, 5, rng)])
    tokens = build_condenser("kmeans", tokens=4).condense(frames, None)
    assert tokens.shape == (4, 32) and np.allclose(np.linalg.norm(tokens, axis=1), 1.0, atol=1e-5)
    assert (tokens @ a).max() > 0.95 and (tokens @ b).max() > 0.95  # both things in the clip have a token


def test_memory_propagates_across_clips():
    rng = np.random.default_rng(1)
    a, b, c = _unit(rng.normal(size=(3, 32)))
    condenser = build_condenser("kmeans", tokens=4)
    first = condenser.condense(np.concatenate([_event(a, 4, rng), _event(b, 4, rng)]), None)
    second = condenser.condense(_event(c, 4, rng), first)  # b and a left the view; c came in
    assert (second @ c).max() > 0.95
    assert (second @ a).max() > 0.9 and (second @ b).max() > 0.9  # what was seen before is remembered
    forgetful = build_condenser("kmeans", tokens=4).condense(_event(c, 4, rng), None)
    assert (forgetful @ a).max() < 0.5  # without the previous tokens nothing of a is left


def test_configs_are_checked_and_names_suggested():
    with pytest.raises(ValueError, match="4..16"):
        KMeansCondenserConfig(tokens=3)
    with pytest.raises(UnknownComponentError, match="did you mean 'kmeans'"):
        CONDENSERS.build("kmean")
    with pytest.raises(ValueError, match="train-condenser"):
        LearnedCondenserConfig()
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        build_condenser("/nonexistent/condenser.pt")


WORLD = _unit(np.random.default_rng(7).normal(size=(6, 16)))
"""The things unlabeled videos show (features of one encoder come from one distribution)."""


def _videos(rng, n_videos=8, clips=8, per_clip=4):
    """Unlabeled clips: each video walks through three of the world's things."""
    out = []
    for _ in range(n_videos):
        events = WORLD[rng.choice(len(WORLD), 3, replace=False)]
        out.append([_event(events[min(2, c // 3)], per_clip, rng, 0.1) for c in range(clips)])
    return out


def test_learned_condenser_trains_saves_and_condenses(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "condenser.pt"
    result = train_condenser(_videos(rng), tokens=4, epochs=30, out=path, width=32, heads=2, layers=1)
    assert result["last_loss"] < 0.6 * result["first_loss"]
    condenser = build_condenser(str(path))
    assert isinstance(condenser, LearnedCondenser) and condenser.tokens == 4
    clip = _videos(rng, 1)[0]
    first = condenser.condense(clip[0], None)
    tokens = condenser.condense(clip[1], first)
    assert tokens.shape == (4, 16) and np.allclose(np.linalg.norm(tokens, axis=1), 1.0, atol=1e-5)
    assert (clip[1] @ tokens.T).max(axis=1).mean() > 0.7  # the clip's frames are near its tokens
    with pytest.raises(ValueError, match="expects 16-d"):
        condenser.condense(np.zeros((4, 8), np.float32), None)


@pytest.mark.slow
def test_ingest_stores_tokens_and_budgeted_selection_uses_them(sample_video, tmp_path):
    from vidmem.agent.agent import AgentConfig, RetrievalAgent
    from vidmem.ingest import IngestConfig, index_video
    from vidmem.io import sample_frames
    from vidmem.storage.store import MemoryStore

    video, _ = sample_video(duration=20.0, fps=5.0, scene_seconds=10.0)
    config = IngestConfig(ocr=False, speech=False, tokens="kmeans")
    report = index_video(video, tmp_path / "store", config)
    assert report.entries.get("tokens@clip") == 8 * report.clips  # K=8 tokens per clip
    frame = next(f for f in sample_frames(str(video), fps=1.0) if f.t >= 13.0)
    with MemoryStore(tmp_path / "store") as store:
        entries = store.get_entries(store.select_ids("tokens", "clip"))
        assert sorted({(e.t_start, e.t_end) for e in entries}) == sorted(
            {(e.t_start, e.t_end) for e in store.get_entries(store.select_ids("episodic", "clip"))}
        )
        answer = RetrievalAgent(store, AgentConfig(budget=3 * report.clips)).ask("", image=frame.image)
    chosen = next(r for r in answer.trace if r.get("round") == "select")
    tokens = [s for s in chosen["selected"] if s["source"] == "tokens"]
    best = max(tokens, key=lambda s: s["score"])  # the nearest token is the asked frame's clip
    assert best["t"][0] <= 13.0 < best["t"][1]


@pytest.mark.slow
def test_train_condenser_command_then_index_with_the_checkpoint(sample_video, tmp_path, capsys):
    import json

    from vidmem.cli import main

    video, _ = sample_video(duration=20.0, fps=5.0, scene_seconds=10.0)
    ckpt = tmp_path / "c.pt"
    argv = ["train-condenser", "--video", str(video), "--out", str(ckpt), "--tokens", "4", "--epochs", "5",
            "--holdout", str(video), "--json"]  # fmt: skip
    assert main(argv) == 0
    trained = json.loads(capsys.readouterr().out)
    assert ckpt.is_file() and trained["tokens"] == 4 and trained["clips"] == 10
    assert trained["holdout_coverage"]["kmeans"] > 0.9 and 0.0 < trained["holdout_coverage"]["learned"] <= 1.0
    argv = [
        "index",
        str(video),
        "--store",
        str(tmp_path / "s"),
        "--no-ocr",
        "--no-speech",
        "--tokens",
        str(ckpt),
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["entries"]["tokens@clip"] == 4 * report["clips"]
    assert main(["index", str(video), "--store", str(tmp_path / "t"), "--tokens", "kmeens"]) == 2
    assert "did you mean 'kmeans'" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()  # a bad condenser fails before the store is made


def test_writer_state_carries_the_previous_tokens_across_a_resume():
    from vidmem.memory.episodic import EpisodicConfig
    from vidmem.memory.semantic import SemanticConfig
    from vidmem.memory.visual import VisualConfig
    from vidmem.memory.writer import MemoryWriter
    from vidmem.storage.schema import pack_state, unpack_state
    from vidmem.types import Clip

    rng = np.random.default_rng(3)

    def writer():
        w = MemoryWriter(1, "v.mp4", "enc:1", 32, EpisodicConfig(), VisualConfig(), SemanticConfig())
        w.condenser = build_condenser("kmeans", tokens=4)
        return w

    def clip(i):
        frames = rng.integers(0, 255, size=(2, 16, 16, 3), dtype=np.uint8)
        return Clip("v.mp4", i, 2.0 * i, 2.0 * i + 2, frames, np.array([2.0 * i, 2.0 * i + 1]))

    vectors = [_unit(rng.normal(size=(2, 32))) for _ in range(3)]
    clips = [clip(i) for i in range(3)]
    straight = writer()
    straight.add_clips(clips[:2], vectors[:2])
    resumed = writer()
    resumed.load_state(unpack_state(pack_state(straight.state())))  # as the store saves it
    expected = straight.add_clips(clips[2:], vectors[2:])
    got = resumed.add_clips(clips[2:], vectors[2:])
    tokens = [[e.vector for e in b.entries if e.store == "tokens"] for b in (expected, got)]
    assert len(tokens[0]) == 4 and np.allclose(tokens[0], tokens[1])
