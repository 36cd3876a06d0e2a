"""Abstention and evidence-aware confidence on a generated video whose subtitles are known."""

from __future__ import annotations

import numpy as np

from demos.sample_video import render_frame
from eval.abstain import unseen_picture
from tests.vidmem.agent_fixtures import absent_captions, spoken_store  # noqa: F401  (fixture)
from vidmem.agent.agent import RetrievalAgent
from vidmem.storage.store import MemoryStore


def _ask(store, question, **kwargs):
    with MemoryStore(store) as s:
        return RetrievalAgent(s).ask(question, **kwargs)


def _lower(caption: str) -> str:
    return caption[0].lower() + caption[1:]


def test_absent_event_abstains_and_keeps_the_closest_evidence(spoken_store):  # noqa: F811
    manifest, store = spoken_store
    answer = _ask(store, "When does the elephant dance on the piano?")
    assert answer.found is False
    assert answer.text.startswith("Nothing in the video supports an answer")
    assert answer.confidence < 0.2
    assert answer.evidence, "the closest memories are still listed"
    assert answer.to_json()["found"] is False


def test_caption_of_another_scene_abstains_and_the_real_one_is_found_at_its_time(spoken_store):  # noqa: F811
    manifest, store = spoken_store
    for caption in absent_captions(manifest)[:3]:
        answer = _ask(store, f"When does {_lower(caption).rstrip('.')}?")
        assert answer.found is False, (caption, answer.text, answer.trace[-1])
    scene = manifest.scenes[2]
    answer = _ask(store, f"When does {_lower(scene.caption)}?")
    assert answer.found is True, answer.trace
    top = answer.evidence[0]
    assert any(s.t_start - 1 <= top.t_start and top.t_end <= s.t_end + 1 for s in manifest.scenes
               if s.caption == scene.caption)  # fmt: skip
    assert answer.confidence > 0.3


def test_unseen_picture_abstains_and_a_frame_of_this_video_is_found(spoken_store):  # noqa: F811
    manifest, store = spoken_store
    answer = _ask(store, "", image=unseen_picture(0))
    assert answer.found is False and answer.evidence
    t = manifest.scenes[4].t_start + 5.0
    answer = _ask(store, "", image=render_frame(manifest, t))
    assert answer.found is True
    assert max(0.0, answer.evidence[0].t_start - t, t - answer.evidence[0].t_end) <= 2.0


def test_multiple_choice_keeps_choosing_with_lower_confidence_on_weak_evidence(spoken_store):  # noqa: F811
    manifest, store = spoken_store
    scene = manifest.scenes[1]
    others = [s.caption for s in manifest.scenes if s.caption != scene.caption][:2]
    options = [others[0], scene.caption, others[1]]
    strong = _ask(store, f"What happens when {_lower(scene.caption)}?", choices=options)
    weak = _ask(store, "What does the elephant play on the piano?", choices=options)
    assert strong.choice == 1 and strong.found
    assert weak.choice is not None and not weak.found
    assert weak.confidence < 0.5 * strong.confidence, (weak.confidence, strong.confidence)


def test_absent_thing_with_a_count_question_abstains(spoken_store):  # noqa: F811
    _, store = spoken_store
    answer = _ask(store, "How many times does the dog bark?")
    assert answer.found is False and not answer.text[0].isdigit()
    assert not any(r.get("round") == "occurrences" for r in answer.trace), "no occurrences of an unsupported thing"


def test_noise_image_abstains(spoken_store):  # noqa: F811
    _, store = spoken_store
    noise = np.random.default_rng(0).integers(0, 256, (180, 320, 3), dtype=np.uint8)
    assert _ask(store, "", image=noise).found is False
