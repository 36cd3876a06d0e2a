"""The senses benchmark's metrics and its scene-text path (tiny sizes; figures come from the CLI)."""

from __future__ import annotations

import numpy as np

from demos.scene_signs import KINDS, scene_frames, sign_frames
from eval.bench_senses import scene_text_figures, spoken_lines, start_errors, word_errors, words_of


def test_word_error_rate_counts_substitutions_insertions_and_deletions():
    assert word_errors("the cat sat".split(), "the cat sat".split()) == 0
    assert word_errors("the cat sat".split(), "a cat sat down".split()) == 2
    assert word_errors("the cat sat".split(), []) == 3
    assert words_of("Meet at 7:15. [seven fifteen]") == ["meet", "at", "seven", "fifteen"]
    # Whisper writes the numbers it hears as digits: both sides are spelled out, so "10" is "ten"
    assert words_of("It opens at 10, it's 1,200 feet") == "it opens at ten it's one thousand two hundred feet".split()


def test_word_start_errors_align_words_heard_right():
    truth = [("the", 1.0), ("red", 1.4), ("kettle", 1.9)]
    heard = [("red", 1.5), ("cattle", 1.9)]
    assert np.allclose(start_errors(truth, heard), [0.1])
    # a word whose true start is unknown aligns but adds no error
    assert np.allclose(start_errors([("the", None), ("red", 1.4)], [("the", 0.2), ("red", 1.3)]), [-0.1])


def test_spoken_lines_do_not_overlap():
    lines, end = spoken_lines(["one two three", "four five"], start=1.0, gap=2.0)
    assert lines[0][0] == 1.0 and lines[1][0] > 1.0 + 0.45 * 3 + 2.0 and end > lines[-1][0]


def test_scene_text_figures_compare_the_readers_on_generated_signs():
    out = scene_text_figures(sign_frames, scene_frames, None, per_kind=1)
    rapid = out["rapidocr"]
    assert set(rapid["recall_by_kind"]) == set(KINDS)
    assert rapid["word_recall"] >= 0.8 and rapid["junk_words_per_text_free_frame"] <= 0.5
    assert "real" not in rapid
    assert "tesseract" in out  # measured, or the reason it could not be
