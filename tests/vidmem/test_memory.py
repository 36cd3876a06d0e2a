"""Memory builders: episodic windows, keyframes, semantic prototypes, consolidation, facts."""

from __future__ import annotations

import numpy as np

from vidmem.memory.consolidate import plan_merges
from vidmem.memory.episodic import EpisodicBuilder, EpisodicConfig
from vidmem.memory.facts import TextFactsBuilder, extract_phrases
from vidmem.memory.novelty import NoveltyMeter
from vidmem.memory.semantic import SemanticBuilder, SemanticConfig
from vidmem.memory.visual import KeyframeSelector, VisualConfig
from vidmem.types import MemoryEntry


def _scene_vectors(n_scenes: int, clips_per_scene: int, dim: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Clip vectors: each scene a random direction plus small jitter."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_scenes, dim))
    out = []
    for c in centers:
        for _ in range(clips_per_scene):
            v = c + 0.05 * rng.normal(size=dim)
            out.append((v / np.linalg.norm(v)).astype(np.float32))
    return out


def _clip(i: int, v: np.ndarray, text: str = "") -> MemoryEntry:
    return MemoryEntry("episodic", "clip", 2.0 * i, 2.0 * i + 2, vector=v, text=text)


def _run_episodic(vectors, config):
    builder = EpisodicBuilder(config, len(vectors[0]))
    meter = NoveltyMeter()
    closed, prev = [], None
    for i, v in enumerate(vectors):
        novel = prev is not None and meter.is_novel(1 - float(prev @ v))
        prev = v
        closed += builder.add(_clip(i, v), novel)
    return closed + builder.flush()


def test_episodic_windows_cut_at_content_changes():
    # scenes of 20 s (10 clips); the 30 s scale may close from 15 s on at a change, so cuts land on scene edges
    vectors = _scene_vectors(6, 10)
    windows = [w for w in _run_episodic(vectors, EpisodicConfig(scales=(30.0, 180.0))) if w.scale == "30s"]
    starts = [w.t_start for w in windows]
    assert starts == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert all(abs(w.t_end - w.t_start - 20.0) < 1e-9 for w in windows)


def test_episodic_windows_close_at_max_length_without_changes():
    vectors = _scene_vectors(1, 60)  # 120 s of one scene
    windows = [w for w in _run_episodic(vectors, EpisodicConfig(scales=(30.0,))) if w.scale == "30s"]
    assert all(w.t_end - w.t_start <= 45.0 + 1e-9 for w in windows)
    assert windows[0].t_start == 0.0 and windows[-1].t_end == 120.0


def test_episodic_state_resumes_identically():
    vectors = _scene_vectors(4, 10)
    config = EpisodicConfig(scales=(30.0,))
    full = _run_episodic(vectors, config)
    a = EpisodicBuilder(config, 16)
    for i, v in enumerate(vectors[:15]):
        a.add(_clip(i, v), False)
    b = EpisodicBuilder(config, 16)
    b.load_state(a.state())
    rest_a = [w.t_start for i, v in enumerate(vectors[15:], 15) for w in a.add(_clip(i, v), False)]
    rest_b = [w.t_start for i, v in enumerate(vectors[15:], 15) for w in b.add(_clip(i, v), False)]
    assert rest_a == rest_b and full


def test_keyframes_follow_novelty_and_gaps():
    vectors = _scene_vectors(5, 10)
    sel = KeyframeSelector(VisualConfig(min_gap=4.0, max_gap=60.0))
    kept = [2.0 * i for i, v in enumerate(vectors) if sel.consider(2.0 * i, v)]
    # one keyframe at the start and one at each scene change (every 20 s), nothing within scenes
    assert kept == [0.0, 20.0, 40.0, 60.0, 80.0]


def test_semantic_prototypes_count_recurring_scenes():
    vectors = _scene_vectors(3, 5)
    order = list(range(0, 5)) + list(range(5, 10)) + list(range(0, 5)) + list(range(10, 15)) + list(range(0, 5))
    builder = SemanticBuilder(SemanticConfig(join_similarity=0.9), 16)
    for i, j in enumerate(order):
        builder.add(_clip(i, vectors[j]))
    entries = builder.entries()
    assert len(entries) == 3
    recurring = max(entries, key=lambda e: e.extra["clips"])
    assert recurring.extra["clips"] == 15
    assert recurring.extra["occurrences"] == [[0.0, 10.0], [20.0, 30.0], [40.0, 50.0]]


def test_semantic_budget_merges_closest_prototypes():
    vectors = _scene_vectors(10, 1)
    builder = SemanticBuilder(SemanticConfig(join_similarity=0.99, max_prototypes=4), 16)
    for i, v in enumerate(vectors):
        builder.add(_clip(i, v))
    assert len(builder.entries()) == 4
    assert sum(e.extra["clips"] for e in builder.entries()) == 10


def test_consolidation_merges_similar_neighbours_first():
    vectors = np.stack(_scene_vectors(3, 4))  # 12 clips, 3 scenes
    groups = plan_merges(vectors, np.ones(12), budget=3)
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert plan_merges(vectors, np.ones(12), budget=20) == [[i] for i in range(12)]


def test_text_facts_keep_recurring_phrases_with_times():
    facts = TextFactsBuilder(min_count=2)
    facts.add("The chef opens the fridge", 0, 2)
    facts.add("Milk from the fridge", 10, 12)
    facts.add("Kettle boils", 20, 22)
    by_text = {e.text: e for e in facts.entries()}
    assert "fridge" in by_text and "kettle" not in by_text
    assert by_text["fridge"].extra["occurrences"] == [[0, 2], [10, 12]]
    assert "chef opens" in extract_phrases("The chef opens the fridge")
