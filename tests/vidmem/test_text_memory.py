"""Words as memory, end to end: subtitles, captions, embedded streams and on-screen text answer questions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from demos.subtitles import mux_subtitles, write_captions_json, write_srt
from vidmem.agent.agent import RetrievalAgent
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage.store import MemoryStore
from vidmem.text import TextSpan

REPO = Path(__file__).resolve().parents[2]


def _ask(store: Path, question: str, **kwargs):
    with MemoryStore(store) as s:
        return RetrievalAgent(s).ask(question, **kwargs)


def _inside(scene, evidence, slack: float = 1.0) -> bool:
    return evidence.t_start >= scene.t_start - slack and evidence.t_end <= scene.t_end + slack


@pytest.fixture(scope="module")
def subtitled(sample_video, tmp_path_factory):
    """A 640x360 video with burned-in signs and a sidecar SRT, indexed with OCR."""
    video, manifest = sample_video(duration=80.0, fps=5.0, size=(640, 360), seed=1)
    folder = tmp_path_factory.mktemp("subtitled")
    local = folder / "talk.mp4"
    local.write_bytes(video.read_bytes())
    write_srt(manifest.caption_spans(), folder / "talk.srt")  # found beside the video by its stem
    store = folder / "store"
    index_video(local, store, IngestConfig())
    return manifest, store


def test_sign_read_by_ocr_answers_when_it_is_shown(subtitled):
    manifest, store = subtitled
    counts = Counter(s.sign for s in manifest.scenes)
    scene = next(s for s in manifest.scenes if counts[s.sign] == 1)
    answer = _ask(store, f"When is the sign {scene.sign} shown?")
    assert _inside(scene, answer.evidence[0], slack=2.0), (scene, answer.evidence[0])
    with MemoryStore(store) as s:
        ocr = [e.text for e in s.get_entries(s.select_ids("text", "ocr"))]
    assert any(scene.sign in t for t in ocr)


def test_subtitle_answers_what_is_said(subtitled):
    manifest, store = subtitled
    scene = manifest.scenes[3]
    noun = scene.caption.rstrip(".").split()[-1]
    answer = _ask(store, f"What is said about the {noun}?")
    assert scene.caption in answer.text
    assert _inside(scene, answer.evidence[0])


def test_paraphrased_question_finds_the_subtitle_by_meaning(subtitled):
    manifest, store = subtitled
    paraphrases = {
        "The chef opens the fridge": "When does the cook open the refrigerator?",
        "A waiter pours two cups of coffee": "When is coffee served?",
        "The train arrives on platform four": "When does the railway service pull in?",
        "The baker pulls bread from the oven": "When is the loaf taken out of the stove?",
    }
    scene = next((s for s in manifest.scenes if s.caption in paraphrases), None)
    assert scene is not None, "the sample video should hold one of the paraphrased captions"
    answer = _ask(store, paraphrases[scene.caption])
    assert any(_inside(s, answer.evidence[0]) for s in manifest.scenes if s.caption == scene.caption)


def test_multiple_choice_scored_against_subtitles(subtitled):
    manifest, store = subtitled
    scene = manifest.scenes[5]
    others = [s.caption for s in manifest.scenes if s.caption != scene.caption][:3]
    options = [others[0], scene.caption.lower().replace("the ", "a "), others[1]]
    answer = _ask(store, f"What happens while the sign {scene.sign} is on screen?", choices=options)
    assert answer.choice == 1, answer.trace[-1]


def test_count_and_first_from_the_text_channel(subtitled):
    manifest, store = subtitled
    counts = Counter(s.caption for s in manifest.scenes)
    caption, n = counts.most_common(1)[0]
    words = " ".join(caption.split()[1:3]).lower()
    answer = _ask(store, f"How many times does {words} come up?")
    assert answer.text.startswith(f"{n} time"), answer.text
    first = min(s.t_start for s in manifest.scenes if s.caption == caption)
    answer = _ask(store, f"When is {words} first mentioned?")
    assert abs(answer.evidence[0].t_start - first) <= 2.0


def test_after_question_returns_the_next_scene(subtitled):
    manifest, store = subtitled
    scene, following = manifest.scenes[2], manifest.scenes[3]
    answer = _ask(store, f"What happens after {scene.caption.lower()}?")
    assert following.caption in answer.text, answer.text


def test_caption_json_in_frame_form_and_embedded_subtitles(sample_video, tmp_path):
    video, manifest = sample_video(duration=40.0, fps=5.0)
    spans = [TextSpan(s.t_start, s.t_end, s.caption, "caption") for s in manifest.scenes]
    captions = write_captions_json(spans, tmp_path / "c.json", form="frames", fps=manifest.fps)
    assert next(iter(json.loads(captions.read_text()))) == f"0_{int(10 * manifest.fps)}"
    embedded = mux_subtitles(video, manifest.caption_spans(), tmp_path / "muxed.mkv")
    scene = manifest.scenes[2]
    for source, config in (
        (video, IngestConfig(captions=str(captions), ocr=False)),
        (embedded, IngestConfig(ocr=False)),
    ):
        store = tmp_path / f"store-{source.suffix[1:]}"
        index_video(source, store, config)
        answer = _ask(store, f"When does this happen: {scene.caption}?")
        assert _inside(scene, answer.evidence[0]), (source, answer.evidence[0])


def test_malformed_subtitles_fail_cleanly_and_leave_the_store(sample_video, tmp_path):
    video, _ = sample_video(duration=20.0, fps=5.0)
    store = tmp_path / "store"
    index_video(video, store, IngestConfig(ocr=False))
    before = sorted((p.name, p.stat().st_size) for p in store.rglob("*") if p.is_file() and "-wal" not in p.name)
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 --> 00:00:0X,500\nHello\n\n")
    other = tmp_path / "other.mp4"
    other.write_bytes(video.read_bytes() + b"\0")  # a different file, so a new source
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "vidmem.cli", "index", str(other), "--store", str(store), "--subtitles", str(bad)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "bad.srt:2" in lines[0], out.stderr
    with MemoryStore(store) as s:
        assert len(s.sources()) == 1
    after = sorted((p.name, p.stat().st_size) for p in store.rglob("*") if p.is_file() and "-wal" not in p.name)
    assert before == after


def test_missing_ocr_engine_is_a_clear_error(sample_video, tmp_path):
    video, _ = sample_video(duration=20.0, fps=5.0)
    broken = tmp_path / "site" / "rapidocr"  # shadows the real package: ``import rapidocr`` fails
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('simulated: rapidocr is missing')\n")
    env = {**os.environ, "PYTHONPATH": f"{broken.parent}{os.pathsep}{REPO}"}
    cmd = [sys.executable, "-m", "vidmem.cli", "index", str(video), "--store", str(tmp_path / "s")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert out.stderr.startswith("error: rapidocr is not installed") and "--no-ocr" in out.stderr
    assert not (tmp_path / "s").exists()
