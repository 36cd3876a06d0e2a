"""``vidmem eval abstain``: does the agent say "nothing supports an answer" when, and only when, it should?

Questions (``eval/data/abstain_questions.json``) about things present in and absent from the real
videos of ``../shared/videos`` (their caption tracks give the truth) and a generated sample video
(signs burned in, read by OCR; a subtitle track; frames of it and of another video as image
queries; pictures like no frame of it). Figures, per channel and per question kind:

- ``false_answer_rate``: unanswerable questions answered (``found`` true); lower is better;
- ``abstention_rate``: answerable questions abstained on; lower is better;
- ``wrong_time_rate``: answerable questions answered with top evidence outside the true windows.

Multiple choice always chooses; its mean confidence on answerable and unanswerable questions is
reported. ``--calibrate`` re-runs the text questions over a grid of the support thresholds.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

QUESTIONS = Path(__file__).parent / "data" / "abstain_questions.json"
SLACK = 1.0
"""Seconds of slack when checking the answer's time against the true windows."""


def build_questions(data: dict, videos_dir: Path, work: Path, make_video) -> list[dict]:
    """Indexes the videos (stores cached under ``work``) and returns every question as a dict."""
    from vidmem.ingest import IngestConfig

    rows = []
    for item in data["videos"]:
        video = videos_dir / item["video"]
        if not video.is_file():
            print(f"warning: {video} is missing; its questions are left out")
            continue
        store = work / Path(item["video"]).stem
        index_cached(video, store, IngestConfig(captions=str(videos_dir / item["captions"]), ocr=False))
        for q in item["answerable"]:
            rows.append({"store": store, "video": item["video"], "channel": item["channel"], "answerable": True, **q})
        for q in item["unanswerable"]:
            rows.append({"store": store, "video": item["video"], "channel": item["channel"], "answerable": False,
                         "question": q, "windows": []})  # fmt: skip
    return rows + _generated(data["generated"], work, make_video)


def _generated(spec: dict, work: Path, make_video) -> list[dict]:
    from demos.sample_video import SIGNS_AND_CAPTIONS, render_frame
    from demos.subtitles import write_srt
    from vidmem.ingest import IngestConfig

    folder = work / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "sample.mp4"
    manifest = make_video(video, duration=spec["duration"], fps=5.0, size=(640, 360), seed=spec["seed"])
    write_srt(manifest.caption_spans(), folder / "sample.srt")
    store = folder / "store"
    index_cached(video, store, IngestConfig())
    other = make_video(folder / "other.mp4", duration=40.0, fps=2.0, size=(640, 360), seed=spec["other_seed"])
    present = {s.sign for s in manifest.scenes}
    said = " ".join(s.caption.lower() for s in manifest.scenes)
    rows = []

    def add(channel, question, answerable, windows, image=None):
        rows.append({"store": store, "video": "generated", "channel": channel, "answerable": answerable,
                     "question": question, "windows": windows, "image": image})  # fmt: skip

    for t in spec["templates"]:
        for scene in manifest.scenes:
            windows = [[s.t_start, s.t_end] for s in manifest.scenes if s.sign == scene.sign]
            add(t["channel"], _fill(t["question"], scene.sign, scene.caption), True, windows)
        for sign, caption in SIGNS_AND_CAPTIONS:
            noun = caption.lower().split()[-1]
            if sign not in present and noun not in said:
                add(t["channel"], _fill(t["question"], sign, caption), False, [])
    for scene in manifest.scenes:
        t = 0.5 * (scene.t_start + scene.t_end)
        add("image", "", True, [[t - 2.0, t + 2.0]], render_frame(manifest, t))
    for scene in other.scenes:
        add("image", "", False, [], render_frame(other, 0.5 * (scene.t_start + scene.t_end)))
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    add("image", "", False, [], noise)
    for seed in range(4):
        add("image", "", False, [], unseen_picture(seed, (360, 640)))
    return rows


def unseen_picture(seed: int, size: tuple[int, int] = (180, 320)) -> np.ndarray:
    """A gradient with coloured ellipses, like no frame of a sample video. ``uint8 [H,W,3]`` for ``size=(H, W)``."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([(x * 0.6 + 40) % 256, (y * 1.1 + 90) % 256, ((x + y) * 0.4) % 256], -1).astype(np.uint8)
    for _ in range(6):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.uniform(0.06, 0.94) * w), int(rng.uniform(0.1, 0.9) * h))
        axes = (int(rng.uniform(0.03, 0.15) * w), int(rng.uniform(0.03, 0.17) * h))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    return image


def index_cached(video: Path, store: Path, config) -> None:
    """Indexes ``video`` into a cache store, rebuilding it when it was made with other settings."""
    from vidmem.errors import StoreError
    from vidmem.ingest import index_video

    try:
        index_video(video, store, config)
    except StoreError:
        index_video(video, store, config, reindex=True)


def _fill(template: str, sign: str, caption: str) -> str:
    words = caption.rstrip(".").split()
    return template.format(sign=sign, caption=caption[0].lower() + caption[1:], noun=f"the {words[-1]}")


def run_questions(rows: list[dict], config=None) -> list[dict]:
    """Asks every question; returns one result per question."""
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.agent.intent import parse_intent
    from vidmem.storage.store import MemoryStore

    out, agents, stores = [], {}, []
    try:
        for row in rows:
            if row["store"] not in agents:
                stores.append(MemoryStore(row["store"]))
                agents[row["store"]] = RetrievalAgent(stores[-1], config)
            answer = agents[row["store"]].ask(row["question"], image=row.get("image"))
            top = answer.evidence[0]
            right = not row["windows"] or any(
                top.t_start <= b + SLACK and top.t_end >= a - SLACK for a, b in row["windows"]
            )
            kind = parse_intent(row["question"]).kind if row["question"] else "image"
            out.append({"video": row["video"], "channel": row["channel"], "kind": kind, "question": row["question"],
                        "answerable": row["answerable"], "found": answer.found,
                        "confidence": answer.confidence, "right_time": right})  # fmt: skip
    finally:
        for s in stores:
            s.close()
    return out


def figures(results: list[dict]) -> dict[str, Any]:
    """False-answer and abstention rates overall, per channel and per question kind."""

    def rates(rs: list[dict]) -> dict[str, Any]:
        ans = [r for r in rs if r["answerable"]]
        unans = [r for r in rs if not r["answerable"]]
        answered = [r for r in ans if r["found"]]
        return {
            "answerable": len(ans),
            "unanswerable": len(unans),
            "false_answer_rate": _rate(sum(r["found"] for r in unans), len(unans)),
            "abstention_rate": _rate(sum(not r["found"] for r in ans), len(ans)),
            "wrong_time_rate": _rate(sum(not r["right_time"] for r in answered), len(answered)),
        }

    by_channel, by_kind = defaultdict(list), defaultdict(list)
    for r in results:
        by_channel[r["channel"]].append(r)
        by_kind[r["kind"]].append(r)
    return {
        "overall": rates(results),
        "channels": {k: rates(v) for k, v in sorted(by_channel.items())},
        "kinds": {k: rates(v) for k, v in sorted(by_kind.items())},
    }


def multiple_choice(rows: list[dict]) -> dict[str, Any]:
    """Kitchen questions with four caption options: accuracy and mean confidence, answerable vs not."""
    from vidmem.agent.agent import RetrievalAgent
    from vidmem.storage.store import MemoryStore

    kitchen = [r for r in rows if r["video"] == "kitchen.mp4"]
    if not kitchen:
        return {}
    captions = _caption_windows(kitchen[0]["store"])
    rng = np.random.default_rng(0)
    conf = {True: [], False: []}
    right = 0
    with MemoryStore(kitchen[0]["store"]) as store:
        agent = RetrievalAgent(store)
        for r in kitchen:
            true = [c for c, (a, b) in captions if any(a < w1 and b > w0 for w0, w1 in r["windows"])][:1]
            others = [c for c, _ in captions if c not in true]
            options = true + list(rng.choice(others, 4 - len(true), replace=False))
            rng.shuffle(options)
            answer = agent.ask(r["question"], choices=options)
            conf[r["answerable"]].append(answer.confidence)
            right += bool(true) and options[answer.choice] == true[0]
    n = sum(r["answerable"] for r in kitchen)
    return {
        "accuracy_answerable": _rate(right, n),
        "mean_confidence_answerable": round(float(np.mean(conf[True])), 3),
        "mean_confidence_unanswerable": round(float(np.mean(conf[False])), 3),
    }


def _caption_windows(store_dir: Path) -> list[tuple[str, tuple[float, float]]]:
    from vidmem.storage.store import MemoryStore

    with MemoryStore(store_dir) as store:
        entries = store.get_entries(store.select_ids("text", "caption"))
    return [(e.text, (e.t_start, e.t_end)) for e in entries]


def calibrate(rows: list[dict]) -> dict[str, Any]:
    """Grid over the text thresholds on the text-channel questions, best first.

    The error is the sum of the false-answer, abstention and wrong-time rates.
    """
    from vidmem.agent.agent import AgentConfig
    from vidmem.agent.support import SupportConfig

    text_rows = [r for r in rows if r["channel"] != "image"]
    grid = []
    for cos, low, cov in itertools.product((0.45, 0.5, 0.55), (0.25, 0.3, 0.35), (0.6,)):
        support = replace(SupportConfig(), text_cosine=cos, text_cosine_with_words=low, text_coverage=cov)
        overall = figures(run_questions(text_rows, AgentConfig(support=support)))["overall"]
        # every way to be wrong counts: answering the absent, abstaining on the present, the wrong time
        error = overall["false_answer_rate"] + overall["abstention_rate"] + overall["wrong_time_rate"]
        grid.append({"text_cosine": cos, "text_cosine_with_words": low, "text_coverage": cov, **overall,
                     "error": round(error, 4)})  # fmt: skip
    # ties go to the stricter thresholds: a false answer is worse than an abstention
    order = sorted(grid, key=lambda g: (g["error"], -g["text_cosine"], -g["text_cosine_with_words"]))
    return {"grid": order}


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def run_cli(args, make_video) -> dict[str, Any]:
    """Entry point of ``vidmem eval abstain``."""
    data = json.loads(Path(args.questions or QUESTIONS).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        rows = build_questions(data, Path(args.videos), work, make_video)
        results = run_questions(rows)
        out = {"figures": figures(results), "multiple_choice": multiple_choice(rows)}
        if args.calibrate:
            out["calibration"] = calibrate(rows)
    out["questions"] = results if args.verbose else len(results)
    if not args.json:
        _print(out)
    return out


def _print(out: dict[str, Any]) -> None:
    f = out["figures"]
    print(f"{'group':<22}{'answerable':>11}{'unanswerable':>13}{'false answer':>14}{'abstained':>11}{'wrong time':>12}")
    for name, r in (
        [("overall", f["overall"])]
        + [(f"channel {k}", v) for k, v in f["channels"].items()]
        + [(f"kind {k}", v) for k, v in f["kinds"].items()]
    ):
        cells = [r["false_answer_rate"], r["abstention_rate"], r["wrong_time_rate"]]
        text = "".join(f"{'-' if c is None else f'{c:.2f}':>{w}}" for c, w in zip(cells, (14, 11, 12), strict=True))
        print(f"{name:<22}{r['answerable']:>11}{r['unanswerable']:>13}{text}")
    if out["multiple_choice"]:
        print("multiple choice:", json.dumps(out["multiple_choice"]))
    if "calibration" in out:
        print("calibration (best first):")
        for g in out["calibration"]["grid"][:5]:
            print("  ", json.dumps(g))
