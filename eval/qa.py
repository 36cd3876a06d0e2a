"""``vidmem eval qa``: video-QA benchmarks answered by the retrieval agent, scored by accuracy.

Each video is indexed once into ``<work>/stores/<stem>`` (a rerun reuses the store), each question
asked with its options, and one JSON line per question appended to the results file as soon as it
is answered, so a killed run resumes where it stopped: questions already in the results file are
not asked again. Videos that are missing are reported by name and their questions left out of the
figures (a later run with the video present answers them). Accuracy counts every scored question
in the results file, overall and per question type.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from eval.qa_formats import QAItem, find_video, read_items
from vidmem.errors import VidmemError


def load_results(path: Path) -> dict[str, dict]:
    """Rows of an earlier run by question id; a torn last line (killed mid-write) is dropped."""
    if not path.is_file():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[row["uid"]] = row
    return rows


def score(item: QAItem, choice: int | None, text: str) -> bool | None:
    """Right or wrong; None when the item has no answer to score against."""
    if item.answer is None:
        return None
    if item.choices is not None:
        return choice == item.answer
    return _words(str(item.answer)) <= _words(text)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def summarise(items: list[QAItem], rows: dict[str, dict]) -> dict[str, Any]:
    """Accuracy overall and per type over the scored rows of ``items``."""
    per_type: dict[str, list[bool]] = defaultdict(list)
    scored = []
    for item in items:
        row = rows.get(item.uid)
        if row is None or row.get("correct") is None:
            continue
        scored.append(row["correct"])
        for t in item.types:
            per_type[t].append(row["correct"])
    return {
        "scored": len(scored),
        "accuracy": round(sum(scored) / len(scored), 4) if scored else None,
        "per_type": {t: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for t, v in sorted(per_type.items())},
    }


class QARun:
    """Indexes videos and asks questions for one benchmark file, appending to a results file."""

    def __init__(self, work: Path, results: Path, ingest_config, agent_config=None) -> None:
        self.work = work
        self.results = results
        self.ingest_config = ingest_config
        self.agent_config = agent_config

    def answer_video(self, video: Path, items: list[QAItem], bar) -> None:
        """Indexes ``video`` (or reuses its store) and answers ``items`` about it."""
        from vidmem.agent.agent import RetrievalAgent
        from vidmem.ingest import index_video
        from vidmem.storage.store import MemoryStore

        store_dir = self.work / "stores" / video.stem
        index_video(video, store_dir, self.ingest_config)
        with MemoryStore(store_dir) as store, self.results.open("a") as out:
            agent = RetrievalAgent(store, self.agent_config)
            for item in items:
                out.write(json.dumps(self._ask(agent, video, item)) + "\n")
                out.flush()  # one line per answered question: a kill loses at most the one in flight
                bar.update(1)

    def _ask(self, agent, video: Path, item: QAItem) -> dict[str, Any]:
        row: dict[str, Any] = {"uid": item.uid, "video": video.name, "types": list(item.types), "answer": item.answer}
        try:
            answer = agent.ask(item.question, choices=list(item.choices) if item.choices else None)
        except VidmemError as e:  # recorded as a wrong answer with its reason, never dropped
            return {**row, "choice": None, "text": "", "found": False, "confidence": 0.0,
                    "error": str(e), "correct": False if item.answer is not None else None}  # fmt: skip
        right = score(item, answer.choice, answer.text)
        return {**row, "choice": answer.choice, "text": answer.text, "found": answer.found,
                "confidence": round(answer.confidence, 4), "correct": right}  # fmt: skip


def run(
    fmt: str, annotations: Path, videos: Path, work: Path, results: Path | None = None, answers: Path | None = None,
    limit: int | None = None, ingest_config=None, agent_config=None, progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Runs (or resumes) one benchmark; returns the figures and the names of missing videos."""
    from tqdm import tqdm

    from vidmem.ingest import IngestConfig

    if not videos.is_dir():
        raise VidmemError(f"videos folder not found: {videos}")
    items = read_items(fmt, annotations, answers)[: limit or None]
    results = results or work / f"{annotations.stem}.{fmt}.results.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = load_results(results)
    by_video: dict[str, list[QAItem]] = defaultdict(list)
    for item in items:
        if item.uid not in done:
            by_video[item.video].append(item)
    missing = sorted(name for name in by_video if find_video(videos, name) is None)
    todo = sum(len(v) for name, v in by_video.items() if name not in missing)
    qa = QARun(work, results, ingest_config or IngestConfig(), agent_config)
    with tqdm(total=todo, unit="q", desc=f"eval qa {fmt}", disable=not progress, leave=False) as bar:
        for name, video_items in by_video.items():
            if name not in missing:
                qa.answer_video(find_video(videos, name), video_items, bar)
    rows = load_results(results)
    return {
        "format": fmt,
        "annotations": str(annotations),
        "results": str(results),
        "questions": len(items),
        "answered": sum(1 for i in items if i.uid in rows),
        "resumed": sum(1 for i in items if i.uid in done),
        "missing_videos": missing,
        "missing_questions": sum(len(by_video[n]) for n in missing),
        "abstained": sum(1 for i in items if i.uid in rows and not rows[i.uid]["found"]),
        **_errors(items, rows),
        **summarise(items, rows),
    }


def _errors(items: list[QAItem], rows: dict[str, dict]) -> dict[str, Any]:
    """How many questions failed, and the commonest reason (a store without text fails them all)."""
    reasons = Counter(rows[i.uid]["error"] for i in items if i.uid in rows and rows[i.uid].get("error"))
    return {"errors": sum(reasons.values()), "commonest_error": reasons.most_common(1)[0][0] if reasons else None}


def run_cli(args) -> dict[str, Any]:
    """``vidmem eval qa`` with parsed ``args``; prints a summary unless ``--json``."""
    import sys

    from vidmem.agent.agent import AgentConfig
    from vidmem.ingest import IngestConfig

    ingest = IngestConfig(fps=args.fps, encoder=args.encoder, ocr=not args.no_ocr, speech=not args.no_speech)
    out = run(
        args.format, Path(args.annotations), Path(args.videos), Path(args.work),
        Path(args.results) if args.results else None, Path(args.answers) if args.answers else None,
        args.limit, ingest, AgentConfig(reasoner=args.reasoner, model=args.model, budget=args.budget),
        progress=sys.stderr.isatty(),
    )  # fmt: skip
    if not args.json:
        acc = "n/a" if out["accuracy"] is None else f"{out['accuracy']:.3f}"
        print(f"{out['format']}: accuracy {acc} over {out['scored']} scored of {out['questions']} questions "
              f"({out['resumed']} from an earlier run); results in {out['results']}")  # fmt: skip
        for t, v in out["per_type"].items():
            print(f"  {t:<28} {v['accuracy']:.3f} ({v['n']})")
        for name in out["missing_videos"]:
            print(f"  missing video: {name}")
        if out["errors"]:
            print(f"  {out['errors']} questions failed (counted wrong); commonest: {out['commonest_error']}")
    return out
