"""The second look in the source video: a still shot's clips all match a query's background alike."""

from __future__ import annotations

import shutil
from fractions import Fraction

import av
import numpy as np
import pytest

from eval.transforms import apply
from vidmem.agent.agent import RetrievalAgent
from vidmem.agent.source_check import SourceCheck, _merge
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage.store import MemoryStore

SIZE = (480, 270)
FPS = 10
DURATION = 20.0


def _still_shot(t: float, background: np.ndarray, card: np.ndarray) -> np.ndarray:
    """A fixed camera on a textured wall; a textured card slides left to right, 18 px a second."""
    frame = background.copy()
    x = int(20 + 18 * t)
    frame[90 : 90 + card.shape[0], x : x + card.shape[1]] = card
    return frame


def _texture(rng: np.random.Generator, h: int, w: int, blocks: int) -> np.ndarray:
    image = np.full((h, w, 3), 128, np.uint8)
    for _ in range(blocks):
        y, x = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        image[y : y + int(rng.integers(6, 30)), x : x + int(rng.integers(6, 30))] = rng.integers(0, 256, 3)
    return image


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    folder = tmp_path_factory.mktemp("still-shot")
    rng = np.random.default_rng(5)
    background, card = _texture(rng, SIZE[1], SIZE[0], 400), _texture(rng, 100, 90, 60)
    path = _write_video(folder / "still.mp4", lambda t: _still_shot(t, background, card), DURATION)
    store = folder / "still.mem"
    index_video(path, store, IngestConfig(ocr=False, speech=False))
    return path, store, (background, card)


def _write_video(path, frame_at, duration: float):
    """An H.264 video of ``frame_at(t)`` (``uint8 [H,W,3]`` RGB at ``SIZE``), ``FPS`` frames a second."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i in range(int(duration * FPS)):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame_at(i / FPS), format="rgb24")))
        out.mux(stream.encode())
    return path


def _sources(store):
    with MemoryStore(store) as s:
        return {r.id: (r.path, r.fingerprint) for r in s.sources()}


@pytest.mark.parametrize("t", [4.6, 11.4, 16.8])
def test_the_source_frame_of_the_query_instant_wins_among_equal_backgrounds(still, t):
    path, store, (background, card) = still
    query = apply("crop70+saturation", _still_shot(t, background, card), np.random.default_rng(int(t * 10)))
    check = SourceCheck(_sources(store))
    (sid,) = check._sources
    match = check.best(query, [(sid, 0.0, DURATION)])
    assert match is not None and match.source_id == sid
    assert abs(match.t - t) <= 0.26, match  # decoded at 2 fps: the nearest frame is at most 0.25 s away


@pytest.mark.parametrize("t", [4.6, 11.4, 16.8])
def test_an_image_question_on_a_still_shot_names_the_clip_of_its_instant(still, t):
    _, store, (background, card) = still
    query = apply("crop70+saturation", _still_shot(t, background, card), np.random.default_rng(int(t * 10)))
    with MemoryStore(store) as s:
        top = RetrievalAgent(s).ask("", image=query).evidence[0]
    assert top.t_start - 1e-6 <= t <= top.t_end + 1e-6, (t, top.t_start, top.t_end)


def test_a_moved_or_changed_source_is_not_read_and_the_store_still_answers(still, tmp_path):
    path, store, (background, card) = still
    copy = tmp_path / "store.mem"
    shutil.copytree(store, copy)
    query = _still_shot(9.0, background, card)
    moved = path.with_name("moved.mp4")
    path.rename(moved)
    try:
        with MemoryStore(copy) as s:
            agent = RetrievalAgent(s)
            answer = agent.ask("", image=query)
            assert answer.evidence and 1.0 < answer.evidence[0].score < 2.0  # verified by the stored corners
            check = agent.verifier._check
            assert check is not None and not any(check.usable(sid) for sid in check._sources)
        path.write_bytes(moved.read_bytes()[:-4096] + b"\0" * 4096)  # same name, other content
        assert not any(SourceCheck(_sources(copy)).usable(sid) for sid in _sources(copy))
    finally:
        moved.replace(path)
    assert all(SourceCheck(_sources(copy)).usable(sid) for sid in _sources(copy))


def test_spans_are_merged_per_source_within_the_budget():
    spans = [(1, 4.0, 8.0), (2, 0.0, 2.0), (1, 7.0, 9.0), (1, 20.0, 40.0)]
    assert _merge(spans, budget=10.0) == [(1, 4.0, 9.0), (2, 0.0, 2.0)]


def test_a_store_keeps_the_channel_its_keypoints_were_found_on(still, sample_video, tmp_path):
    from vidmem.agent.image_search import ImageVerifier
    from vidmem.storage.local_features import META, recorded_channel

    _, store, _ = still
    with MemoryStore(store) as s:
        assert recorded_channel(s.db) == "value" and ImageVerifier(s).features.config.channel == "value"
    older = tmp_path / "older.mem"
    shutil.copytree(store, older)
    with MemoryStore(older) as s:  # keypoints written before the channel was recorded were found on luma
        s.db.execute("DELETE FROM meta WHERE key=?", (META,))
        s.db.commit()
    other, _ = sample_video(duration=4.0, fps=5, size=(320, 180), seed=11, burn_text=False)
    index_video(other, older, IngestConfig(ocr=False, speech=False))
    with MemoryStore(older) as s:
        assert recorded_channel(s.db) == "luma" and ImageVerifier(s).features.config.channel == "luma"


def test_near_equal_verified_clips_of_two_videos_at_the_same_times_reorder(still):
    """Two videos' clips at equal times compare equal up to their vectors: hits must be told apart by identity."""
    from dataclasses import replace

    from vidmem.agent.image_search import ImageVerifier, geometric_score
    from vidmem.agent.reader import Hit

    _, store, _ = still
    with MemoryStore(store) as s:
        first, second = s.get_entries(s.select_ids("episodic", "clip", 0.0, DURATION))[:2]
        twin = replace(first, source="other.mp4", id=first.id + 1000, vector=first.vector.copy())
        hits = [
            Hit(e, geometric_score(n), "geometric", c)
            for e, n, c in ((first, 30, 0.2), (twin, 29, 0.9), (second, 5, 0.5))
        ]
        ordered = ImageVerifier(s)._break_ties(hits)
    assert [h.entry.source for h in ordered] == ["other.mp4", first.source, second.source]


def test_when_the_first_look_finds_nothing_the_next_global_candidates_are_looked_at(tmp_path):
    """Fast footage under a crop: the right clip ranks behind look-alikes the first look decodes in vain."""
    from vidmem.agent.image_search import SECOND_LOOK_GLOBAL, SECOND_LOOK_LATER, ImageVerifier
    from vidmem.agent.reader import Hit

    rng = np.random.default_rng(8)
    wall, card = _texture(rng, SIZE[1], SIZE[0], 400), _texture(rng, 100, 90, 60)
    other_wall, other_card = _texture(rng, SIZE[1], SIZE[0], 400), _texture(rng, 100, 90, 60)

    def frame_at(t: float) -> np.ndarray:  # one scene for 7 s, another after
        return _still_shot(t, wall, card) if t < 7.0 else _still_shot(t - 7.0, other_wall, other_card)

    path = _write_video(tmp_path / "two-scenes.mp4", frame_at, 12.0)
    store = tmp_path / "two-scenes.mem"
    index_video(path, store, IngestConfig(ocr=False, speech=False))
    query = apply("crop70", frame_at(9.0), np.random.default_rng(3))
    with MemoryStore(store) as s:
        clips = s.get_entries(s.select_ids("episodic", "clip", 0.0, 12.0))
        first_scene = [e for e in clips if e.t_end <= 6.0 + 1e-6]
        right = next(e for e in clips if e.t_start <= 9.0 < e.t_end)
        assert SECOND_LOOK_GLOBAL <= len(first_scene) < SECOND_LOOK_LATER
        ranked = [Hit(e, 0.9 - 0.01 * i, "image", 0.9 - 0.01 * i) for i, e in enumerate(first_scene)]
        ranked.append(Hit(right, 0.5, "image", 0.5))
        verifier = ImageVerifier(s)
        assert verifier.rows is not None  # loads the store's sources too
        hits = verifier._second_look(query, [], ranked, None)
    assert hits and hits[0].entry.id == right.id and hits[0].via == "geometric"


def _clip_hits(store, inliers_and_cosines):
    """Geometric hits on the still shot's first clips, with the given inlier counts and cosines."""
    from vidmem.agent.image_search import geometric_score
    from vidmem.agent.reader import Hit

    with MemoryStore(store) as s:
        clips = s.get_entries(s.select_ids("episodic", "clip", 0.0, DURATION))
    return [Hit(e, geometric_score(n), "geometric", c) for e, (n, c) in zip(clips, inliers_and_cosines, strict=False)]


def test_the_source_is_looked_at_again_only_when_geometry_and_the_global_ranking_leave_it_open(still):
    from vidmem.agent.image_search import second_look_needed
    from vidmem.agent.reader import Hit

    _, store, _ = still
    a, b, c = _clip_hits(store, [(12, 0.9), (11, 0.8), (5, 0.7)])
    ranked = [Hit(h.entry, h.cosine, "image", h.cosine) for h in (a, b, c)]
    assert second_look_needed([40, 10], [a, b], ranked) is None  # strong and alone
    assert second_look_needed([12], [a], ranked) is None  # weak, alone, and the global ranking's first too
    assert second_look_needed([12], [a], ranked[1:]) == "all"  # weak, and the global ranking disagrees
    assert second_look_needed([12, 11], [a, b], ranked) == "tied"  # which instant: inside the tied clips
    assert second_look_needed([40, 38], [a, b], ranked) == "tied"
    assert second_look_needed([40, 38], [b, a], ranked) == "all"
    assert second_look_needed([], [], ranked) == "all"  # nothing verified


@pytest.mark.parametrize("t", [4.6, 11.4])
def test_a_look_inside_tied_clips_names_the_clip_of_the_query_instant(still, t):
    """A still shot: neighbouring clips verify equally; the tied look decodes only them and finds the instant."""
    from vidmem.agent.image_search import ImageVerifier, geometric_score
    from vidmem.agent.reader import Hit

    _, store, (background, card) = still
    query = apply("crop70", _still_shot(t, background, card), np.random.default_rng(2))
    with MemoryStore(store) as s:
        clips = s.get_entries(s.select_ids("episodic", "clip", 0.0, DURATION))
        right = next(e for e in clips if e.t_start <= t < e.t_end)
        before = next(e for e in clips if abs(e.t_end - right.t_start) < 1e-6)
        far = next(e for e in clips if e.t_start >= right.t_end + 4.0)  # 9 inliers of 20: not tied
        hits = [
            Hit(before, geometric_score(20), "geometric", 0.9),
            Hit(right, geometric_score(20) - 1e-6, "geometric", 0.8),
        ]
        hits.append(Hit(far, geometric_score(9), "geometric", 0.7))
        ranked = [Hit(h.entry, h.cosine, "image", h.cosine) for h in hits]
        verifier = ImageVerifier(s)
        assert verifier.rows is not None
        out = verifier._second_look(query, hits, ranked, None, tied_only=True)
    assert out[0].entry.id == right.id and out[0].via == "geometric"
    assert {h.entry.id for h in out} == {before.id, right.id, far.id}


def test_verified_hits_come_first_in_inlier_order_whatever_a_later_re_ranking_did(still):
    from vidmem.agent.image_search import verified_first
    from vidmem.agent.reader import Hit

    _, store, _ = still
    eight, eleven = _clip_hits(store, [(8, 0.7), (11, 0.9)])
    loose = Hit(eight.entry, 0.95, "image", 0.95)
    assert verified_first([loose, eight, eleven]) == [eleven, eight, loose]
