"""``vidmem eval qa``: the five annotation layouts, results per question, resume, missing videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eval.qa import load_results, score, summarise
from eval.qa_formats import QAItem, read_items
from vidmem.cli import main
from vidmem.errors import VidmemError

SIGNS = ["KITCHEN", "GARAGE", "LIBRARY", "OFFICE"]


def _write_all_formats(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Each layout asks two questions about ``vid1`` and one about ``gone`` (no such video).

    Returns ``{format: (annotation file, expected answer texts in file order)}``.
    """
    q = "Which sign is shown while the chef opens the fridge?"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    ego = [
        {"q_uid": v, "question": q, **{f"option {k}": s for k, s in enumerate(SIGNS + ["BEACH"])}}
        for v in ("vid1", "gone")
    ]
    (folder / "questions.json").write_text(json.dumps(ego))
    (folder / "subset_answers.json").write_text(json.dumps({"vid1": 0}))  # "gone" stays unscored
    files["egoschema"] = (folder / "questions.json", ["KITCHEN", None])
    options = [f"{letter}. {s}" for letter, s in zip("ABCD", SIGNS, strict=True)]
    mme = [
        {"video_id": "001", "videoID": "vid1", "duration": "short", "questions": [
            {"question_id": "001-1", "task_type": "OCR Problems", "question": q, "options": options, "answer": "A"},
            {"question_id": "001-2", "task_type": "Action Recognition", "question": "What does the mechanic lift?",
             "options": options, "answer": "B"}]},
        {"video_id": "002", "videoID": "gone", "duration": "short", "questions": [
            {"question_id": "002-1", "task_type": "OCR Problems", "question": q, "options": options, "answer": "C"}]},
    ]  # fmt: skip
    (folder / "videomme.json").write_text(json.dumps(mme))
    files["videomme"] = (folder / "videomme.json", ["KITCHEN", "GARAGE", "LIBRARY"])
    mlvu = [
        {"video": "vid1.mp4", "question": q, "candidates": SIGNS, "answer": "KITCHEN", "question_type": "plotQA"},
        {"video": "vid1.mp4", "question": "Where is the student?", "candidates": SIGNS, "answer": "LIBRARY",
         "question_type": "needle"},
        {"video": "gone.mp4", "question": q, "candidates": SIGNS, "answer": "OFFICE", "question_type": "plotQA"},
    ]  # fmt: skip
    (folder / "mlvu.json").write_text(json.dumps(mlvu))
    files["mlvu"] = (folder / "mlvu.json", ["KITCHEN", "LIBRARY", "OFFICE"])
    inline = q + "\n" + "\n".join(f"({letter}) {s}" for letter, s in zip("ABCD", SIGNS, strict=True))
    lines = [
        {"key": "vid1", "type": "cartoon", "qa": [
            {"uid": 1, "question": inline, "answer": "A", "question_type": ["key information retrieval"],
             "time_reference": "00:00-00:05"},
            {"uid": 2, "question": inline, "answer": "D", "question_type": ["reasoning", "summarization"],
             "time_reference": "00:30-00:35"}]},
        {"key": "gone", "type": "sport", "qa": [
            {"uid": 3, "question": inline, "answer": "B", "question_type": ["reasoning"], "time_reference": ""}]},
    ]  # fmt: skip
    (folder / "video_info.meta.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    files["lvbench"] = (folder / "video_info.meta.jsonl", ["KITCHEN", "OFFICE", "GARAGE"])
    generic = {"items": [
        {"id": "g1", "video": "vid1.mp4", "question": q, "choices": SIGNS, "answer": 0, "type": "sign"},
        {"id": "g2", "video": "vid1.mp4", "question": "What does the chef open?", "answer": "fridge", "type": "open"},
        {"id": "g3", "video": "gone.mp4", "question": q, "choices": SIGNS, "answer": "GARAGE"},
    ]}  # fmt: skip
    (folder / "generic.json").write_text(json.dumps(generic))
    files["generic"] = (folder / "generic.json", ["KITCHEN", "fridge", "GARAGE"])
    return files


@pytest.mark.parametrize("fmt", ["egoschema", "videomme", "mlvu", "lvbench", "generic"])
def test_readers_parse_the_published_layouts(tmp_path, fmt):
    path, expected = _write_all_formats(tmp_path)[fmt]
    items = read_items(fmt, path)
    got = [None if i.answer is None else (i.answer if i.choices is None else i.choices[i.answer]) for i in items]
    assert got == expected
    assert [i.video.removesuffix(".mp4") for i in items][-1] == "gone"
    assert all(i.choices is None or len(i.choices) >= 4 for i in items)
    if fmt == "lvbench":  # options come out of the question text; types stay a list
        assert items[0].question.endswith("fridge?") and items[1].types == ("reasoning", "summarization")
        assert items[0].time_reference == "00:00-00:05"


def test_bad_annotations_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"video": "a.mp4"}]')
    with pytest.raises(VidmemError, match="is not a mlvu annotation file"):
        read_items("mlvu", bad)
    bad.write_text("{not json")
    with pytest.raises(VidmemError, match="not valid JSON"):
        read_items("generic", bad)


def test_scoring_and_per_type_accuracy():
    mc = QAItem("a", "v", "q", ("x", "y"), 1, ("t1", "t2"))
    open_q = QAItem("b", "v", "q", None, "the fridge", ("t1",))
    assert score(mc, 1, "") is True and score(mc, 0, "") is False
    assert score(open_q, None, "He opens The Fridge at 3 s") is True and score(open_q, None, "an oven") is False
    assert score(QAItem("c", "v", "q", ("x", "y"), None), 0, "") is None
    rows = {"a": {"correct": True}, "b": {"correct": False}}
    out = summarise([mc, open_q], rows)
    assert out["accuracy"] == 0.5 and out["per_type"] == {
        "t1": {"n": 2, "accuracy": 0.5},
        "t2": {"n": 1, "accuracy": 1.0},
    }


def test_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"uid": "a", "correct": true}\n{"uid": "b", "corr')
    assert list(load_results(path)) == ["a"]


@pytest.mark.slow
def test_eval_qa_runs_every_format_resumes_and_names_missing_videos(tmp_path, sample_video, capsys):
    video, manifest = sample_video(duration=30.0, fps=5.0, scene_seconds=10.0)
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(video, videos / "vid1.mp4")
    (videos / "vid1.srt").write_text(manifest.to_srt())
    files = _write_all_formats(tmp_path / "ann")
    work = tmp_path / "work"
    for fmt, (path, expected) in files.items():
        argv = ["eval", "qa", "--format", fmt, "--annotations", str(path), "--videos", str(videos),
                "--work", str(work), "--no-ocr", "--no-speech", "--json"]  # fmt: skip
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["missing_videos"] == (["gone"] if fmt in ("egoschema", "videomme", "lvbench") else ["gone.mp4"])
        assert out["missing_questions"] == 1 and out["answered"] == len(expected) - 1 and out["resumed"] == 0
        rows = [json.loads(line) for line in Path(out["results"]).read_text().splitlines()]
        assert [r["video"] for r in rows] == ["vid1.mp4"] * (len(expected) - 1)
        scored = [r["correct"] for r in rows if r["correct"] is not None]
        assert out["scored"] == len(scored)
        assert out["accuracy"] == (round(sum(scored) / len(scored), 4) if scored else None)
        assert all(r["choice"] is None or 0 <= r["choice"] < 5 for r in rows)
        assert out["errors"] == 0  # the subtitles give the store a text channel
        # a rerun asks nothing again: every answered question comes from the results file
        assert main(argv) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["resumed"] == out["answered"] and again["accuracy"] == out["accuracy"]
        assert len(Path(out["results"]).read_text().splitlines()) == len(rows)
    assert sorted(p.name for p in (work / "stores").iterdir()) == ["vid1"]  # one store for the video


def test_missing_videos_folder_is_an_error(tmp_path, capsys):
    path, _ = _write_all_formats(tmp_path)["generic"]
    assert (
        main(["eval", "qa", "--format", "generic", "--annotations", str(path), "--videos", str(tmp_path / "no")]) == 2
    )
    assert "videos folder not found" in capsys.readouterr().err


@pytest.mark.slow
def test_a_store_that_cannot_answer_text_counts_wrong_and_says_why(tmp_path, sample_video, capsys):
    video, _ = sample_video(duration=30.0, fps=5.0, scene_seconds=10.0)
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(video, videos / "vid1.mp4")  # no subtitles, no OCR: nothing text can reach
    path, _ = _write_all_formats(tmp_path / "ann")["mlvu"]
    argv = ["eval", "qa", "--format", "mlvu", "--annotations", str(path), "--videos", str(videos),
            "--work", str(tmp_path / "w"), "--no-ocr", "--no-speech", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == out["answered"] == 2 and out["accuracy"] == 0.0
    assert "no text channel" in out["commonest_error"]
