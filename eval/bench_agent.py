"""``vidmem bench agent``: warm ``ask`` latency on an indexed hour, with the embedded reasoner and with a budget.

A generated sample video (default 60 min, 2 fps, 320x180, one subtitle per 10 s scene, signs read
by OCR) is indexed once (kept under ``--work``); then questions of every kind (present and absent
things; when, how many, first, after, what is said, an image) are asked of one open agent, the
text encoder warmed up first, so the figure is the question's own time: rounds, search, support,
answer. Printed: p50 and p90 in milliseconds per configuration and the share of abstentions.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def questions(manifest) -> list[tuple[str, Any]]:
    """(question, image) pairs drawn from the manifest: present and absent, every kind."""
    from demos.sample_video import SIGNS_AND_CAPTIONS, render_frame

    scenes = manifest.scenes
    said = {s.caption for s in scenes}
    absent = [c for _, c in SIGNS_AND_CAPTIONS if c not in said][:2] or ["The elephant dances on the piano"]
    picks = [scenes[len(scenes) // k] for k in (2, 3, 5, 7)]
    out = [(f"When is it said that {s.caption.lower()}?", None) for s in picks]
    out += [(f"When is the sign {s.sign} shown?", None) for s in picks[:2]]
    out += [(f"How many times is it said that {picks[0].caption.lower()}?", None)]
    out += [(f"When is {picks[1].caption.lower()} first mentioned?", None)]
    out += [(f"What happens after {picks[2].caption.lower()}?", None)]
    out += [(f"What is said about the {picks[3].caption.rstrip('.').split()[-1]}?", None)]
    out += [(f"When does {c.lower()}?", None) for c in absent]
    out += [("When does the elephant dance on the piano?", None)]
    out += [("", render_frame(manifest, picks[0].t_start + 4.0))]
    return out


def measure(store_dir: Path, asked: list[tuple[str, Any]], budget: int | None, repeats: int) -> dict[str, Any]:
    """Warm latency of each question (best of ``repeats``), p50 / p90 over the questions."""
    from vidmem.agent.agent import AgentConfig, RetrievalAgent
    from vidmem.agent.support import clear_embedding_cache
    from vidmem.storage.store import MemoryStore

    with MemoryStore(store_dir) as store:
        agent = RetrievalAgent(store, AgentConfig(budget=budget))
        agent.ask("warm up the text encoder and the indexes")
        times, abstained = [], 0
        for question, image in asked:
            best = float("inf")
            for _ in range(repeats):
                clear_embedding_cache()  # no help from an earlier run of the same question
                start = time.perf_counter()
                answer = agent.ask(question, image=image)
                best = min(best, time.perf_counter() - start)
            times.append(best * 1000)
            abstained += not answer.found
    times.sort()
    return {
        "questions": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
        "abstained": abstained,
    }


def _video(path: Path, minutes: float, make_video):
    """The sample video at ``path``, made once (its manifest beside it says it is complete)."""
    from demos.sample_video import SampleManifest, manifest_path_for

    manifest = manifest_path_for(path)
    if path.is_file() and manifest.is_file():
        return SampleManifest.load(manifest)
    return make_video(path, duration=60.0 * minutes, fps=2.0, size=(320, 180), seed=5)


def hour_inputs(work: Path, minutes: float, make_video):
    """The generated video (made once), its subtitle file beside it, and its store path under ``work``.

    Returns:
        ``(video, manifest, store)``; the store is not built here.
    """
    from demos.subtitles import write_srt

    work.mkdir(parents=True, exist_ok=True)
    video = work / f"hour_{minutes:g}min.mp4"
    manifest = _video(video, minutes, make_video)
    write_srt(manifest.caption_spans(), video.with_suffix(".srt"))
    return video, manifest, work / f"store_{minutes:g}min"


def run_cli(args, make_video) -> dict[str, Any]:
    """Entry point of ``vidmem bench agent``."""
    import torch

    from vidmem.errors import StoreError
    from vidmem.ingest import IngestConfig, index_video
    from vidmem.storage.store import MemoryStore

    torch.set_num_threads(1)  # 2 busy cores: one thread is faster and steadier
    with tempfile.TemporaryDirectory() as tmp:
        video, manifest, store = hour_inputs(Path(args.work or tmp), args.minutes, make_video)
        start = time.perf_counter()
        try:
            report = index_video(video, store, IngestConfig())
        except StoreError:  # a cache made with other settings (an older vidmem): rebuild it
            report = index_video(video, store, IngestConfig(), reindex=True)
        index_s = time.perf_counter() - start
        with MemoryStore(store) as s:
            memories = {f"{a}@{b}" if b else a: n for a, b, n in s.groups()}
        asked = questions(manifest)
        out = {
            "video_minutes": args.minutes,
            "index_seconds": round(index_s, 1) if report.status != "already indexed" else None,
            "memories": memories,
            "embedded": measure(store, asked, None, args.repeats),
            f"budget_{args.budget}": measure(store, asked, args.budget, args.repeats),
        }
    if not args.json:
        for name in ("embedded", f"budget_{args.budget}"):
            m = out[name]
            print(f"{name:<12} p50 {m['p50_ms']:.0f} ms  p90 {m['p90_ms']:.0f} ms  ({m['questions']} questions)")
    return out
