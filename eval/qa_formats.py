"""Readers for published video-QA annotation layouts, all turned into ``QAItem`` lists.

Layouts (what each reader expects):

- ``egoschema``: ``questions.json``, a list of ``{"q_uid", "question", "option 0" .. "option 4"}``;
  answers ``{q_uid: index}`` from ``--answers FILE`` or ``subset_answers.json`` beside it. The video
  is ``<q_uid>.mp4``. Questions without an answer are asked but not scored.
- ``videomme``: a JSON list, either one row per question (``videoID``, ``question_id``,
  ``task_type``, ``question``, ``options`` like ``"A. text"``, ``answer`` a letter) or one item per
  video with those fields under ``"questions"``. The video is ``<videoID>.mp4``.
- ``mlvu``: a JSON list of ``{"video", "question", "candidates": [...], "answer": text,
  "question_type"}`` (the MLVU task files).
- ``lvbench``: ``video_info.meta.jsonl``, one video per line: ``{"key", "qa": [{"uid", "question",
  "answer": letter, "question_type": [...], "time_reference"}]}``, the options written inside the
  question as ``(A) text`` lines. The video is ``<key>.mp4``.
- ``generic``: ``{"items": [...]}`` or a list of ``{"id", "video", "question", "choices"?: [...],
  "answer": index | text, "type"?: str}``; without ``choices`` the question is open and is right
  when the answer's words contain the expected text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidmem.errors import VidmemError

FORMATS = ("egoschema", "videomme", "mlvu", "lvbench", "generic")
LETTERS = "ABCDEFGHIJ"
_OPTION = re.compile(r"^\s*\(?([A-J])[).:]\s*(.*)$")


@dataclass(frozen=True)
class QAItem:
    """One benchmark question.

    Attributes:
        uid: unique id of the question within the benchmark.
        video: the video's file name or stem as the annotations give it.
        question: the question without its options.
        choices: options of a multiple-choice question, else None.
        answer: index into ``choices``, the expected text of an open question, or None (unscored).
        types: question types (several for LVBench), for per-type accuracy.
        time_reference: the annotated time of the evidence, when given (LVBench).
    """

    uid: str
    video: str
    question: str
    choices: tuple[str, ...] | None
    answer: int | str | None
    types: tuple[str, ...] = field(default_factory=tuple)
    time_reference: str | None = None


def read_items(fmt: str, annotations: Path, answers: Path | None = None) -> list[QAItem]:
    """Reads ``annotations`` in layout ``fmt`` (one of ``FORMATS``) into items, in file order."""
    readers = {"egoschema": _egoschema, "videomme": _videomme, "mlvu": _mlvu, "lvbench": _lvbench, "generic": _generic}
    if fmt not in readers:
        raise VidmemError(f"unknown QA format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not annotations.is_file():
        raise VidmemError(f"annotations file not found: {annotations}")
    try:
        items = readers[fmt](annotations, answers) if fmt == "egoschema" else readers[fmt](annotations)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise VidmemError(f"{annotations.name} is not a {fmt} annotation file ({type(e).__name__}: {e})") from None
    if not items:
        raise VidmemError(f"{annotations.name} holds no {fmt} questions")
    uids = [i.uid for i in items]
    if len(set(uids)) != len(uids):
        raise VidmemError(f"{annotations.name} repeats question ids; results could not be resumed by id")
    return items


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise VidmemError(f"{path.name} is not valid JSON (line {e.lineno}: {e.msg})") from None


def _egoschema(path: Path, answers_path: Path | None) -> list[QAItem]:
    rows = _load_json(path)
    if answers_path is None and (path.parent / "subset_answers.json").is_file():
        answers_path = path.parent / "subset_answers.json"
    answers = _load_json(answers_path) if answers_path else {}
    items = []
    for row in rows:
        options = tuple(str(row[f"option {k}"]) for k in range(5))
        answer = answers.get(row["q_uid"])
        items.append(
            QAItem(row["q_uid"], row["q_uid"], row["question"], options, None if answer is None else int(answer))
        )
    return items


def _letter_index(letter: str, n: int) -> int:
    index = LETTERS.index(letter.strip().upper()[:1])
    if index >= n:
        raise ValueError(f"answer {letter!r} names no option")
    return index


def _split_options(options: list[str]) -> tuple[str, ...]:
    """``["A. text", ...]`` -> ``("text", ...)`` (options without a letter are kept whole)."""
    out = []
    for option in options:
        m = _OPTION.match(option)
        out.append(m.group(2).strip() if m else option.strip())
    return tuple(out)


def _videomme(path: Path) -> list[QAItem]:
    data = _load_json(path)
    rows = []
    for entry in data:
        if "questions" in entry:  # one item per video
            rows += [{**entry, **q} for q in entry["questions"]]
        else:
            rows.append(entry)
    items = []
    for row in rows:
        choices = _split_options(list(row["options"]))
        video = row.get("videoID") or row["video_id"]
        types = tuple(t for t in (row.get("task_type"), row.get("duration")) if t)
        items.append(
            QAItem(
                str(row["question_id"]),
                video,
                row["question"],
                choices,
                _letter_index(row["answer"], len(choices)),
                types,
            )
        )
    return items


def _mlvu(path: Path) -> list[QAItem]:
    items = []
    for n, row in enumerate(_load_json(path)):
        choices = tuple(str(c) for c in row["candidates"])
        answer = choices.index(str(row["answer"]))
        uid = str(row.get("question_id", f"{Path(row['video']).stem}#{n}"))
        qtype = row.get("question_type")
        items.append(QAItem(uid, row["video"], row["question"], choices, answer, (qtype,) if qtype else ()))
    return items


def _lvbench(path: Path) -> list[QAItem]:
    items = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            video = json.loads(line)
        except json.JSONDecodeError as e:
            raise VidmemError(f"{path.name}: a line is not JSON ({e.msg})") from None
        for qa in video["qa"]:
            question, choices = _question_and_options(qa["question"])
            types = qa.get("question_type") or ()
            types = (types,) if isinstance(types, str) else tuple(types)
            answer = _letter_index(qa["answer"], len(choices))
            items.append(
                QAItem(str(qa["uid"]), video["key"], question, choices, answer, types, qa.get("time_reference"))
            )
    return items


def _question_and_options(text: str) -> tuple[str, tuple[str, ...]]:
    """LVBench writes options as ``(A) text`` lines after the question."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    options = [ln for ln in lines if _OPTION.match(ln)]
    if len(options) < 2:
        raise ValueError("a question carries fewer than two (A)-(D) options")
    question = " ".join(ln.strip() for ln in lines if ln not in options)
    return question, _split_options(options)


def _generic(path: Path) -> list[QAItem]:
    data = _load_json(path)
    rows = data["items"] if isinstance(data, dict) else data
    items = []
    for n, row in enumerate(rows):
        choices = tuple(str(c) for c in row["choices"]) if row.get("choices") else None
        answer = row.get("answer")
        if choices is not None and isinstance(answer, str):
            answer = choices.index(answer)
        elif choices is not None and answer is not None and not 0 <= int(answer) < len(choices):
            raise ValueError(f"answer {answer} of item {n} names no choice")
        qtype = row.get("type")
        items.append(
            QAItem(str(row.get("id", n)), row["video"], row["question"], choices, answer, (qtype,) if qtype else ())
        )
    return items


def find_video(videos: Path, name: str) -> Path | None:
    """The file for ``name`` in ``videos``: the exact name, else the stem with a video extension."""
    exact = videos / name
    if exact.is_file():
        return exact
    stem = Path(name).stem if Path(name).suffix.lower() in (".mp4", ".mkv", ".webm", ".avi", ".mov") else name
    for ext in (".mp4", ".mkv", ".webm", ".avi", ".mov"):
        candidate = videos / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None
