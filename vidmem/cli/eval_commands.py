"""``vidmem eval ...`` and ``vidmem bench ...``: benchmarks that print figures.

Each task is a subparser of its own; its code in ``eval/`` is imported only when it runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``eval`` and ``bench`` to the ``vidmem`` parser."""
    p = sub.add_parser("eval", help="benchmarks of memory and QA")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="TASK")
    m = esub.add_parser("memory", help="retrieval benchmarks on real or generated videos")
    m.add_argument("--video", action="append", required=True, help="video file (repeatable)")
    m.add_argument("--captions", action="append", default=[], help="caption JSON for the video(s), in order")
    m.add_argument("--questions", help="JSON file of caption-retrieval questions")
    m.add_argument("--work", help="folder for the stores (default: a temporary folder)")
    m.add_argument("--needle", action="store_true", help="also the needle benchmark: transformed frames asked back")
    m.add_argument("--needle-minutes", type=float, default=60.0, help="length of the joined video (0: none)")
    m.add_argument("--needle-per-video", type=int, default=8, help="frames queried per video (default 8)")
    m.add_argument("--needle-seed", type=int, default=0, help="seeds queried frames and transformations")
    m.add_argument("--boundaries", action="append", help="true event boundaries: NAME=t1,t2,... or a JSON file")
    m.add_argument("--boundary-tolerance", type=float, default=1.0, help="seconds a boundary may be off (default 1)")
    m.add_argument("--sort-pairs", type=int, default=20, help="SORT clip pairs per video (default 20)")
    m.add_argument("--budget", type=int, help="vectors every method keeps per video (default: vidmem's clip count)")
    m.add_argument("--fps", type=float, default=1.0, help="frames indexed per second (default 1)")
    m.add_argument("--clip-seconds", type=float, default=2.0, help="clip length in seconds (default 2)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(run=_eval_memory)

    q = esub.add_parser("qa", help="video-QA benchmark files answered by the agent: accuracy overall and per type")
    q.add_argument("--format", required=True, choices=("egoschema", "videomme", "mlvu", "lvbench", "generic"))
    q.add_argument("--annotations", required=True, help="the benchmark's annotation file (see eval/qa_formats.py)")
    q.add_argument("--videos", required=True, help="folder holding the benchmark's videos")
    q.add_argument("--answers", help="EgoSchema answers {q_uid: index} (default: subset_answers.json beside it)")
    q.add_argument("--results", help="JSONL results file; a rerun resumes it (default: in --work)")
    q.add_argument("--work", default="vidmem-eval-qa", help="stores and results folder (default ./vidmem-eval-qa)")
    q.add_argument("--limit", type=int, help="only the first N questions")
    q.add_argument("--fps", type=float, default=1.0, help="frames indexed per second (default 1)")
    q.add_argument("--encoder", default="classical", help="visual encoder (clip-b32 lets text reach pictures)")
    q.add_argument("--no-ocr", action="store_true", help="skip on-screen text when indexing")
    q.add_argument("--no-speech", action="store_true", help="skip speech when indexing")
    q.add_argument("--reasoner", default="embedded", help="reasoner backend (default embedded)")
    q.add_argument("--model", help="model of the openai/transformers reasoner")
    q.add_argument("--budget", type=int, help="hand the reasoner exactly this many memories")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(run=_eval_qa)

    a = esub.add_parser("abstain", help="abstention: false answers on absent things, abstentions on present ones")
    a.add_argument("--videos", default="../shared/videos", help="folder with kitchen.mp4 and boats.mp4 and captions")
    a.add_argument("--questions", help="questions JSON (default eval/data/abstain_questions.json)")
    a.add_argument("--work", help="folder for the stores (default: a temporary folder)")
    a.add_argument("--calibrate", action="store_true", help="also grid-search the text support thresholds")
    a.add_argument("--verbose", action="store_true", help="list every question's result in the JSON")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(run=_eval_abstain)

    p = sub.add_parser("bench", help="speed and size benchmarks (print figures)")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    g = bsub.add_parser("agent", help="warm ask latency on an indexed hour: embedded reasoner, and with a budget")
    g.add_argument("--minutes", type=float, default=60.0, help="generated video length (default 60)")
    g.add_argument("--budget", type=int, default=8, help="memories handed to the reasoner in the budgeted run")
    g.add_argument("--repeats", type=int, default=3, help="runs per question, the best counts (default 3)")
    g.add_argument("--work", help="folder for the video and store, reused between runs (default: temporary)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.set_defaults(run=_bench_agent)
    b = bsub.add_parser("ingest", help="ingest speed against pure decode, RSS, bytes per hour")
    b.add_argument("--minutes", type=float, default=10.0, help="main video length (default 10)")
    b.add_argument("--long-minutes", type=float, nargs="+", default=[30.0, 60.0],
                   help="long videos for peak RSS against 1 minute (default 30 60)")  # fmt: skip
    b.add_argument("--encoder", default="classical")
    b.add_argument("--video", help="also measure this real video")
    b.add_argument("--silent", action="store_true", help="generated videos without their espeak speech track")
    b.add_argument("--work", help="folder for generated videos and stores (default: temporary)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(run=_bench_ingest)

    f = bsub.add_parser("faults", help="fault table: kill -9, two writers, damaged/foreign/read-only stores, bad input")
    f.add_argument("--trials", type=int, default=3, help="tries per fault (default 3; the 25,000-cue file once)")
    f.add_argument("--work", help="folder for the generated video and stores (default: temporary)")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(run=_bench_faults)

    k = bsub.add_parser("ask", help="cold `vidmem ask`: wall, CPU and peak RSS for a text and an image question")
    k.add_argument("--repeats", type=int, default=3, help="timed runs per question after one warm-up (default 3)")
    k.add_argument("--before", help="another vidmem checkout to time in the same run (e.g. an older commit)")
    k.add_argument("--work", help="folder for the generated video and stores (default: temporary)")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(run=_bench_ask)

    s = bsub.add_parser("server", help="policy server: latency, throughput, batching on/off, soak RSS")
    s.add_argument("--trained", help="trained policy checkpoint (default: one from $VIDMEM_HOME/policies)")
    s.add_argument("--clients", default="1,8,32", help="concurrent client counts (default 1,8,32)")
    s.add_argument("--requests", type=int, default=640, help="requests per run, split over the clients")
    s.add_argument("--soak-requests", type=int, default=10_000, help="soak length (0 skips the soak)")
    s.add_argument("--max-wait-ms", type=float, default=2.0, help="batching wait of the server")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(run=_bench_server)

    pb = bsub.add_parser("policy", help="policy inference latency per step by memory type and length; training time")
    pb.add_argument("--memories", default="bank,spatial,chunks,nomemory", help="policies to time (comma list)")
    pb.add_argument("--lengths", default="100,1000", help="episode lengths in steps (default 100,1000)")
    pb.add_argument("--train-env", default="cue_reach", help="env for the training-time figure ('' skips it)")
    pb.add_argument("--train-agents", default="bank,nomemory", help="agents trained for the figure")
    pb.add_argument("--train-episodes", type=int, default=48, help="demonstrations for the training figure")
    pb.add_argument("--train-epochs", type=int, default=25, help="epochs for the training figure")
    pb.add_argument("--json", action="store_true", help="print one JSON object")
    pb.set_defaults(run=_bench_policy)

    v = bsub.add_parser("senses", help="speech WER/speed/word times, scene-text recall/junk (rapidocr vs tesseract)")
    v.add_argument("--parts", default="speech,ocr,ingest", help="comma list of speech, ocr, ingest (default all)")
    v.add_argument("--sentences", type=int, default=20, help="espeak sentences transcribed (default 20, ~190 s)")
    v.add_argument("--per-kind", type=int, default=6, help="generated sign frames per kind of text (default 6)")
    v.add_argument("--videos", help="folder of the real videos (../shared/videos) for scene text on real frames")
    v.add_argument("--minutes", type=float, default=30.0, help="generated video length for ingest figures (default 30)")
    v.add_argument("--work", help="folder for generated videos and stores (default: temporary)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(run=_bench_senses)

    w = bsub.add_parser("web", help="web app: warm API latency vs cold CLI, live ingest rate, RSS of a looping source")
    w.add_argument("--minutes", type=float, default=60.0, help="generated video length (default 60)")
    w.add_argument("--work", help="folder for the video and store, shared with bench agent (default: temporary)")
    w.add_argument("--repeats", type=int, default=3, help="requests per question (default 3)")
    w.add_argument("--cold-runs", type=int, default=3, help="cold CLI asks (default 3)")
    w.add_argument("--live-seconds", type=float, default=45.0, help="seconds per live ingest rate run (default 45)")
    w.add_argument("--soak-minutes", type=float, default=0.0, help="minutes of the looping-source RSS run (0: skip)")
    w.add_argument("--soak-every", type=float, default=30.0, help="seconds between RSS samples (default 30)")
    w.add_argument("--json", action="store_true", help="print one JSON object")
    w.set_defaults(run=_bench_web)

    c = bsub.add_parser("collection", help="collection indexing (1, 2 workers, Ray) and the compressed index at 1.8 M")
    c.add_argument("--videos", type=int, default=20, help="generated videos (default 20)")
    c.add_argument("--minutes", type=float, default=15.0, help="minutes per video (default 15: 5 hours in all)")
    c.add_argument("--video-fps", type=float, default=2.0, help="frame rate of the generated videos (default 2)")
    c.add_argument("--clips", type=int, default=1_800_000, help="synthetic clip vectors (default 1.8 M: 1,000 h)")
    c.add_argument("--asks", type=int, default=30, help="questions asked across the collection (default 30)")
    c.add_argument("--only", choices=("collection", "compressed"), help="run one part only")
    c.add_argument("--work", help="folder for generated videos and stores (default: temporary)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(run=_bench_collection)


def _eval_memory(args: argparse.Namespace) -> dict[str, Any]:
    from eval.memory_bench import run_cli

    out = run_cli(args)
    if args.needle:
        from eval.needle import run_cli as needle_cli

        out["needle"] = needle_cli(args, out["work"])
        from eval.memory_compare import attach_needle

        attach_needle(out, out["needle"])
    if not args.json:
        from eval.memory_compare import print_methods

        print_methods(out)
    return out


def _eval_qa(args: argparse.Namespace) -> dict[str, Any]:
    from eval.qa import run_cli

    return run_cli(args)


def _eval_abstain(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from eval.abstain import run_cli

    return run_cli(args, make_sample_video)


def _bench_ask(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from eval.bench_ask import run_cli

    return run_cli(args, make_sample_video)


def _bench_agent(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from eval.bench_agent import run_cli

    return run_cli(args, make_sample_video)


def _bench_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from eval.bench_ingest import run_cli

    speak = None
    if not args.silent:  # speech is on by default, so the generated videos talk
        from demos.speech_video import RATE, check_tools, speech_track

        check_tools()

        def speak(lines, seconds):
            return speech_track(lines, seconds)[0], RATE

    return run_cli(args, make_sample_video, speak)


def _bench_faults(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from demos.subtitles import write_srt
    from eval.bench_faults import run_cli

    return run_cli(args, make_sample_video, write_srt)


def _bench_server(args: argparse.Namespace) -> dict[str, Any]:
    from eval.bench_server import run_cli

    return run_cli(args)


def _bench_senses(args: argparse.Namespace) -> dict[str, Any]:
    from demos.scene_signs import scene_frames, sign_frames
    from demos.speech_video import make_speech_video
    from eval.bench_senses import run_cli

    return run_cli(args, make_speech_video, sign_frames, scene_frames)


def _bench_web(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from eval.bench_web import run_cli

    return run_cli(args, make_sample_video)


def _bench_policy(args: argparse.Namespace) -> dict[str, Any]:
    from eval.bench_policy import run_cli

    return run_cli(args)


def _bench_collection(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from eval.bench_collection import run_bench

    parts = (args.only,) if args.only else ("collection", "compressed")
    with tempfile.TemporaryDirectory(prefix="vidmem-bench-collection-") as tmp:
        out = run_bench(Path(args.work or tmp), args.videos, args.minutes, args.video_fps, args.clips, args.asks, parts)
    if not args.json:
        import json

        print(json.dumps(out, indent=2))
    return out
