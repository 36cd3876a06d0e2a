"""The fault bench's comparisons: a lost row, a duplicated row or a raw message must show."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

from eval.bench_faults import _answer, _warnings, one_error_line, row_diff

CLIP = ("episodic", "clip", 0.0, 2.0, b"v", None, "1/0000000.jpg", None)
CUE = ("text", "subtitle", 1.0, 3.0, b"v", b"t", None, "hello")


def done(rc: int, stderr: str, stdout: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], rc, stdout, stderr)


def test_row_diff_names_missing_and_duplicated_rows_by_store():
    want = Counter([CLIP, CUE])
    assert row_diff(Counter([CLIP, CUE]), want) == []
    assert row_diff(Counter([CLIP, CLIP, CUE]), want) == ["1 extra episodic@clip rows"]
    assert row_diff(Counter([CLIP]), want) == ["1 missing text@subtitle rows"]


def test_one_error_line_accepts_only_a_single_error_line_with_the_needles():
    assert one_error_line(done(2, "error: a.mp4 is being indexed by process 42\n"), "process 42", "a.mp4") is None
    assert "exit 0" in one_error_line(done(0, ""))
    assert "2 stderr lines" in one_error_line(done(1, "Traceback (most recent call last):\n  boom\n"))
    assert "lacks ['process 42']" in one_error_line(done(2, "error: busy\n"), "process 42")


def test_answers_compare_keyframes_relative_to_their_store():
    def ask(root: str, score: float) -> subprocess.CompletedProcess:
        evidence = [{"source": "episodic@clip", "t_start": 30.0, "t_end": 32.0, "score": score, "text": None,
                     "keyframe": f"{root}/keyframes/1/0000015.jpg"}]  # fmt: skip
        return done(0, "", json.dumps({"answer": "At 0:30", "found": True, "evidence": evidence}))

    assert _answer(ask("/a/store", 0.87)) == _answer(ask("/mnt/ro", 0.87))
    assert _answer(ask("/a/store", 0.87)) != _answer(ask("/a/store", 0.86))
    assert _answer(done(2, "error: no store\n")).startswith("failed")


def test_warning_kinds_drop_paths_so_one_kind_per_cause():
    lines = [
        "warning: cannot save index /s/index/a.faiss (No space left on device); using it from memory for this run",
        "warning: cannot save index /s/index/b.faiss (No space left on device); using it from memory for this run",
        "error: unrelated",
    ]
    assert _warnings(lines) == "warning: cannot save index FILE (No space left on device)"
    assert _warnings([]) == "no warning"
