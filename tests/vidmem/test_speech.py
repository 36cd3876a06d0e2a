"""Speech as memory: espeak-ng sentences at known times, transcribed into ``text@speech`` entries."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from vidmem.errors import TextWarning
from vidmem.ingest import IngestConfig, index_video
from vidmem.storage.store import MemoryStore
from vidmem.text import TextSpan
from vidmem.text.numbers import number_forms
from vidmem.text.spans import validate_spans
from vidmem.text.speech import SpeechConfig, drop_covered, spans_from_json, spans_to_json, transcribe_video

LINES = [
    (1.0, "The red kettle is boiling in the kitchen"),
    (8.0, "Meet me at the harbor at seven fifteen"),
    (15.0, "The blue bicycle has a flat tyre"),
]
DURATION = 22.0
NO_TEXT = {"ocr": False, "auto_subtitles": False, "embedded_subtitles": False}


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """(video path, manifest, store) of the clean speech video, indexed once with speech on."""
    from demos.speech_video import make_speech_video

    folder = tmp_path_factory.mktemp("speech")
    manifest = make_speech_video(folder / "talk.mp4", LINES, DURATION)
    store = folder / "store"
    index_video(folder / "talk.mp4", store, IngestConfig(**NO_TEXT))
    return folder / "talk.mp4", manifest, store


def _speech_entries(store) -> list:
    with MemoryStore(store) as s:
        return s.get_entries(s.select_ids("text", "speech"))


def _aligned_starts(reference: list, heard: list) -> list[tuple[str, float, float]]:
    """(word, true start, heard start) for the words the transcript got right, aligned in order."""
    ref = [(w.lower(), t0) for w, t0, _ in reference]
    hyp = [(w.lower().strip(".,!?"), t0) for w, t0, _ in heard]
    match = difflib.SequenceMatcher(a=[w for w, _ in ref], b=[w for w, _ in hyp], autojunk=False)
    return [
        (ref[b.a + k][0], ref[b.a + k][1], hyp[b.b + k][1]) for b in match.get_matching_blocks() for k in range(b.size)
    ]


def test_speech_entries_hold_the_sentences_with_word_times(talk):
    _, manifest, store = talk
    entries = _speech_entries(store)
    assert len(entries) == len(LINES)
    matched = []
    for entry, line in zip(entries, manifest.lines, strict=True):
        assert abs(entry.t_start - line.t_start) < 0.5 and abs(entry.t_end - line.t_end) < 1.0
        matched += _aligned_starts(line.words, entry.extra["words"])
    said = sum(len(line.words) for line in manifest.lines)
    assert len(matched) >= 0.6 * said, [e.text for e in entries]  # tiny.en on espeak: WER ~0.2-0.3
    errors = np.array([abs(heard - true) for _, true, heard in matched])
    # Whisper's ~0.1 s lag is taken off (SpeechConfig.word_start_lag): half the starts within 0.15 s
    assert np.median(errors) < 0.15 and (errors < 0.5).mean() >= 0.9, matched
    # the time is searchable both as digits and as words
    assert "7:15" in entries[1].text and "seven fifteen" in entries[1].text


def test_a_question_about_what_is_said_is_answered_from_speech(talk):
    from vidmem.agent.agent import ask

    _, manifest, store = talk
    answer = ask(store, "What is said about the bicycle?")
    top = answer.evidence[0]
    assert answer.found and top.source == "text" and "bicycle" in top.text.lower()
    assert abs(top.t_start - manifest.lines[2].t_start) < 0.5
    kitchen = next(t0 for w, t0, _ in manifest.lines[0].words if w == "kitchen")
    when = ask(store, "When does she mention the kitchen?").evidence[0]
    assert when.t_start - 0.5 <= kitchen <= when.t_end + 0.5 and "kitchen" in when.text.lower()
    harbor = ask(store, "When does she mention the harbor?")  # "mention" is how it is asked, not what
    assert harbor.found and abs(harbor.evidence[0].t_start - manifest.lines[1].t_start) < 0.5


def test_noisy_speech_still_finds_the_key_words(talk, tmp_path):
    from demos.speech_video import make_speech_video

    manifest = make_speech_video(tmp_path / "noisy.mp4", LINES, DURATION, snr_db=15.0, seed=3)
    spans = transcribe_video(tmp_path / "noisy.mp4")
    for line, word in ((manifest.lines[0], "kitchen"), (manifest.lines[2], "bicycle")):
        near = " ".join(s.text.lower() for s in spans if abs(s.t_start - line.t_start) < 1.0)
        assert word in near, (word, [s.text for s in spans])
    # nothing is invented over the noise between the lines
    for s in spans:
        assert any(line.t_start - 1.0 <= s.t_start and s.t_end <= line.t_end + 1.0 for line in manifest.lines), s


def test_a_killed_transcription_resumes_without_duplicates_or_gaps(talk):
    video, manifest, store = talk
    whole = _speech_entries(store)
    # as if killed after a first piece ending between the first and the second line
    first = [
        TextSpan(e.t_start, e.t_end, e.text, "speech", f"{video.name} speech at {e.t_start:.1f} s",
                 tuple(map(tuple, e.extra["words"])))
        for e in whole
    ]  # fmt: skip
    state = {"done": 6.0, "complete": False, "spans": spans_to_json(first[:1])}
    saved = []
    resumed = transcribe_video(video, SpeechConfig(), state=state, save=saved.append)
    assert resumed[0] == first[0] and all(s.t_start >= 6.0 for s in resumed[1:])
    heard = " ".join(s.text.lower() for s in resumed)
    assert heard.count("kitchen") == heard.count("bicycle") == heard.count("harbor") == 1, heard
    assert saved[-1]["complete"] and saved[-1]["done"] > DURATION - 1


def test_speech_spans_keep_their_origin_through_the_saved_state():
    """A warning about overlapping speech names the video and the time (it named nothing before)."""
    spans = [TextSpan(3600.0, 3602.5, "the boat", "speech", "", (("the", 3600.0, 3600.4),)),
             TextSpan(3601.0, 3603.0, "is red", "speech", "", ())]  # fmt: skip
    back = spans_from_json(spans_to_json(spans), "long.mp4")
    assert [s.origin for s in back] == ["long.mp4 speech at 3600.0 s", "long.mp4 speech at 3601.0 s"]

    def fields(items):
        return [(s.t_start, s.t_end, s.text, s.words) for s in items]

    assert fields(back) == fields(spans)
    with pytest.warns(TextWarning, match="first long.mp4 speech at 3601.0 s overlaps long.mp4 speech at 3600.0 s"):
        validate_spans(back, None, "long.mp4")


def test_a_video_without_audio_is_indexed_without_speech(sample_video, tmp_path):
    video, _ = sample_video(duration=10.0, fps=5.0)
    assert transcribe_video(video) == []
    report = index_video(video, tmp_path / "store", IngestConfig(**NO_TEXT))
    assert "text@speech" not in report.entries and report.entries["episodic@clip"] == 5


def test_no_speech_flag_turns_speech_off(talk, tmp_path):
    video, _, _ = talk
    cmd = [sys.executable, "-m", "vidmem.cli", "index", str(video), "--store", str(tmp_path / "s")]
    out = subprocess.run([*cmd, "--no-ocr", "--no-speech", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    entries = json.loads(out.stdout)["entries"]
    assert "text@speech" not in entries and entries["episodic@clip"] == 11
    # ``ask VIDEO`` indexes first, and passes the flag on
    cmd = [sys.executable, "-m", "vidmem.cli", "ask", str(video), "", "--image", str(tmp_path / "frame.png")]
    cv2.imwrite(str(tmp_path / "frame.png"), np.full((90, 160, 3), 128, np.uint8))
    out = subprocess.run([*cmd, "--store", str(tmp_path / "a"), "--no-ocr", "--no-speech", "--json"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    with MemoryStore(tmp_path / "a") as s:
        assert s.count("episodic", "clip") == 11 and s.count("text", "speech") == 0


def test_subtitles_take_precedence_over_speech_for_the_same_time():
    speech = [TextSpan(1.0, 5.0, "heard one", "speech"), TextSpan(8.0, 11.0, "heard two", "speech")]
    subtitles = [TextSpan(0.5, 3.0, "sub a", "subtitle"), TextSpan(3.0, 4.5, "sub b", "subtitle")]
    assert [s.text for s in drop_covered(speech, subtitles)] == ["heard two"]
    assert drop_covered(speech, [TextSpan(10.0, 10.5, "short", "subtitle")]) == speech


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Leave at 7:15 sharp", ["seven fifteen"]),
        ("at 715 from", ["seven hundred fifteen", "7:15", "seven fifteen"]),
        ("Meet at 7.15", ["seven point one five", "7:15", "seven fifteen"]),
        ("twenty five people at seven fifteen", ["25", "7:15"]),
        ("seven oh five", ["7:05"]),
        ("In 1995 we had 1,200 cats", ["one thousand nine hundred ninety five", "nineteen ninety five",
                                      "one thousand two hundred"]),
        ("no numbers here", []),
    ],
)  # fmt: skip
def test_numbers_are_searchable_as_digits_and_words(text, expected):
    assert number_forms(text) == expected


def test_speech_config_checks_its_fields():
    with pytest.raises(ValueError, match="did you mean 'faster-whisper'"):
        SpeechConfig(engine="faster-whispr")
    with pytest.raises(ValueError, match="did you mean 'tiny.en'"):
        SpeechConfig(model="tiny-en")
    with pytest.raises(ValueError, match="max_no_speech_prob"):
        SpeechConfig(max_no_speech_prob=0)
    with pytest.raises(ValueError, match="word_start_lag"):
        SpeechConfig(word_start_lag=-0.1)


def test_a_segment_is_dropped_only_when_whisper_doubts_both_speech_and_words():
    from types import SimpleNamespace as Seg

    from vidmem.text.speech import WhisperSpeech

    reader = WhisperSpeech()
    words = [Seg(probability=p) for p in (0.7, 0.9)]
    assert not reader._not_speech(Seg(no_speech_prob=0.86, words=words))  # clear words under noise
    assert reader._not_speech(Seg(no_speech_prob=0.86, words=[Seg(probability=0.2)]))  # "Thank you." over hum
    assert not reader._not_speech(Seg(no_speech_prob=0.3, words=[Seg(probability=0.2)]))


def test_an_ingest_killed_after_a_checkpoint_resumes_without_duplicating_or_losing_speech(talk, tmp_path, monkeypatch):
    import vidmem.ingest as ingest
    import vidmem.text.speech as speech

    video, _, reference = talk
    config = IngestConfig(commit_every=4, **NO_TEXT)
    commit, calls = ingest._Run._commit, []

    def dies_on_the_second_checkpoint(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(ingest._Run, "_commit", dies_on_the_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        index_video(video, tmp_path / "store", config)
    first = _speech_entries(tmp_path / "store")
    assert len(first) == 1  # the first line was committed before the kill
    monkeypatch.setattr(ingest._Run, "_commit", commit)
    heard = []  # the transcript is read back from the store, not made again
    monkeypatch.setattr(speech, "_transcribe_rest", lambda *args: heard.append(args))
    report = index_video(video, tmp_path / "store", config)
    assert report.status == "resumed" and not heard
    resumed = _speech_entries(tmp_path / "store")
    assert [(e.t_start, e.text, e.extra["words"]) for e in resumed] == [
        (e.t_start, e.text, e.extra["words"]) for e in _speech_entries(reference)
    ]


def test_a_segment_is_cut_into_memories_at_long_pauses():
    from vidmem.text.speech import split_at_pauses

    words = (("Meet", 1.0, 1.3), ("me.", 1.4, 1.7), ("Blue", 4.0, 4.3), ("bicycle.", 4.35, 4.9))
    assert split_at_pauses(words, 1.0) == [words[:2], words[2:]]
    assert split_at_pauses(words, 5.0) == [words]


def test_a_sentence_synthesised_whole_carries_espeak_word_starts():
    from demos.speech_video import RATE, speak_sentence

    text = "The old man walked to the market"
    audio, timed, untimed = speak_sentence(text)
    assert [w for w, _, _ in timed] == text.split()
    starts = [t0 for i, (_, t0, _) in enumerate(timed) if i not in untimed]
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False)) and all(t1 > t0 for _, t0, t1 in timed)
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    assert abs(loud[0] / RATE - timed[0][1]) < 0.05 and abs(timed[-1][2] - len(audio) / RATE) < 0.01
    # a word starts a little before the sound of the sentence's prefix (said alone, so lengthened) ends
    for k in (2, 4):
        if k not in untimed:
            prefix, _, _ = speak_sentence(" ".join(text.split()[:k]))
            assert -0.3 < timed[k][1] - len(prefix) / RATE < 0.0
