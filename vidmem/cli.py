"""``vidmem``: the one command line. Each subcommand parses a typed config and calls library code.

Errors print one line ``error: ...`` on stderr and exit non-zero (``--debug`` shows the traceback).
With ``--json`` stdout carries exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidmem", description="Memory for long video: index it, ask it.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="stream a video into a memory store")
    p.add_argument("video", help="video file")
    p.add_argument("--store", required=True, help="store directory (created when missing)")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    p.add_argument("--clip-seconds", type=float, default=2.0, help="clip length in seconds (default 2)")
    p.add_argument("--encoder", default="classical", help="visual encoder name or preset (default classical)")
    p.add_argument("--text-encoder", default="minilm", help="text encoder preset (default minilm, offline)")
    p.add_argument("--captions", help="caption JSON (seconds, or 'startframe_endframe' keys)")
    p.add_argument("--subtitles", action="append", default=[], help="SRT/VTT file (repeatable)")
    p.add_argument("--no-ocr", action="store_true", help="do not read on-screen text from keyframes")
    p.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"], help="video decoder")
    p.add_argument("--reindex", action="store_true", help="rebuild this video's memories from scratch")
    p.add_argument(
        "--clip-budget",
        type=int,
        default=20_000,
        help="clip memories kept per video; similar neighbours merge beyond it",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("ask", help="ask a store (or a video, indexed on first use) a question")
    p.add_argument("target", metavar="STORE_OR_VIDEO")
    p.add_argument("question", nargs="?", default="", help="the question (may be empty with --image)")
    p.add_argument("--image", help="an image to look for")
    p.add_argument("--choice", action="append", help="a multiple-choice option (repeat for each)")
    p.add_argument("--from", dest="t_from", type=float, help="only memories after this time (s)")
    p.add_argument("--to", dest="t_to", type=float, help="only memories before this time (s)")
    p.add_argument("--store", help="store for a video target (default: a cache folder)")
    p.add_argument("--encoder", default="classical", help="encoder when a video must be indexed first")
    p.add_argument("--no-ocr", action="store_true", help="when indexing a video first: skip OCR")
    p.add_argument("--evidence", type=int, default=5, help="evidence items to show (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("info", help="describe a store")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("eval", help="benchmarks of memory and QA")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="TASK")
    m = esub.add_parser("memory", help="retrieval benchmarks on real or generated videos")
    m.add_argument("--video", action="append", required=True, help="video file (repeatable)")
    m.add_argument("--captions", action="append", default=[], help="caption JSON for the video(s), in order")
    m.add_argument("--questions", help="JSON file of caption-retrieval questions")
    m.add_argument("--work", help="folder for the stores (default: a temporary folder)")
    m.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("bench", help="speed and size benchmarks (print figures)")
    p.add_argument("what", choices=["ingest"])
    p.add_argument("--minutes", type=float, default=10.0, help="main video length (default 10)")
    p.add_argument("--long-minutes", type=float, default=30.0, help="long video for the RSS ratio (default 30)")
    p.add_argument("--encoder", default="classical")
    p.add_argument("--video", help="also measure this real video")
    p.add_argument("--work", help="folder for generated videos and stores (default: temporary)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _route_warnings()
    try:
        result = _dispatch(args)
    except KeyboardInterrupt:
        print("error: interrupted; what was committed is kept, run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the one place that turns failures into one line
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _dispatch(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "index":
        return _index(args)
    if args.command == "ask":
        return _ask(args)
    if args.command == "info":
        return _info(args)
    if args.command == "eval":
        from eval.memory_bench import run_cli

        return run_cli(args)
    if args.command == "bench":
        from demos.sample_video import make_sample_video
        from eval.bench_ingest import run_cli

        return run_cli(args, make_sample_video)
    raise AssertionError(args.command)


def _index(args: argparse.Namespace) -> dict[str, Any]:
    from vidmem.ingest import IngestConfig, index_video

    config = IngestConfig(
        fps=args.fps, clip_seconds=args.clip_seconds, encoder=args.encoder, text_encoder=args.text_encoder,
        ocr=not args.no_ocr, subtitles=tuple(args.subtitles), captions=args.captions, backend=args.backend,
        clip_budget=args.clip_budget,
    )  # fmt: skip
    report = index_video(
        args.video, args.store, config, progress=not args.json and sys.stderr.isatty(), reindex=args.reindex
    )
    if not args.json:
        counts = ", ".join(f"{k} {v}" for k, v in report.entries.items())
        print(f"{report.status}: {report.video} -> {report.store} ({report.clips} clips, {report.seconds:.1f} s)")
        print(f"memories: {counts}")
    return report.to_json()


def _ask(args: argparse.Namespace) -> dict[str, Any]:
    from vidmem.agent.agent import AgentConfig, RetrievalAgent
    from vidmem.errors import VidmemError
    from vidmem.storage.schema import DB_NAME
    from vidmem.storage.store import MemoryStore

    target = Path(args.target)
    store_dir = target
    if not (target.is_dir() and (target / DB_NAME).is_file()):
        if target.is_dir():
            raise VidmemError(f"{target} is not a vidmem store (no {DB_NAME} inside)")
        store_dir = Path(args.store) if args.store else _default_store(target)
        _index_for_ask(target, store_dir, args)
    image = _read_image(args.image) if args.image else None
    window = None
    if args.t_from is not None or args.t_to is not None:
        window = (
            args.t_from if args.t_from is not None else 0.0,
            args.t_to if args.t_to is not None else float("inf"),
        )
    with MemoryStore(store_dir) as store:
        agent = RetrievalAgent(store, AgentConfig(evidence=args.evidence))
        answer = agent.ask(args.question, image=image, choices=args.choice, window=window)
    if not args.json:
        _print_answer(answer)
    return answer.to_json()


def _index_for_ask(video: Path, store_dir: Path, args: argparse.Namespace) -> None:
    from vidmem.ingest import IngestConfig, index_video

    report = index_video(
        video,
        store_dir,
        IngestConfig(encoder=args.encoder, ocr=not args.no_ocr),
        progress=sys.stderr.isatty(),
    )
    if report.status != "already indexed":
        print(f"indexed {video} into {store_dir}", file=sys.stderr)


def _default_store(video: Path) -> Path:
    from vidmem.errors import VideoError
    from vidmem.ingest import fingerprint

    if not video.is_file():
        raise VideoError(f"no such video or store: {video}")
    home = Path(os.environ.get("VIDMEM_HOME", Path.home() / ".cache" / "vidmem"))
    return home / "stores" / f"{video.stem}-{fingerprint(video)[:12]}"


def _read_image(path: str):
    import cv2

    from vidmem.errors import QueryError

    image = cv2.imread(path, cv2.IMREAD_COLOR) if Path(path).is_file() else None
    if image is None:
        raise QueryError(f"cannot read image {path} (missing or not an image)")
    return image[:, :, ::-1].copy()


def _info(args: argparse.Namespace) -> dict[str, Any]:
    from vidmem.storage.store import MemoryStore

    with MemoryStore(args.store) as store:
        info = {
            "store": str(store.root.resolve()),
            "schema_version": store.get_meta("schema_version"),
            "encoder": store.get_meta("encoder"),
            "text_encoder": store.get_meta("text_encoder"),
            "sources": [
                {"id": s.id, "path": s.path, "duration": s.duration, "status": s.status, "clips": s.next_clip}
                for s in store.sources()
            ],
            "memories": {f"{s}@{sc}" if sc else s: n for s, sc, n in store.groups()},
            "bytes": store.disk_bytes(),
        }
    if not args.json:
        enc = info["encoder"] or {}
        print(f"store   {info['store']} (schema {info['schema_version']}, {info['bytes'] / 1e6:.2f} MB)")
        print(f"encoder {enc.get('name', '-')} {enc.get('version', '')}")
        for s in info["sources"]:
            dur = f"{s['duration']:.1f} s" if s["duration"] else "?"
            print(f"source  #{s['id']} {s['path']} ({dur}, {s['clips']} clips, {s['status']})")
        for group, n in info["memories"].items():
            print(f"  {group:<18} {n}")
    return info


def _print_answer(answer) -> None:
    from vidmem.agent.reasoner import fmt_span

    print(f"answer:     {answer.text}")
    if answer.choice is not None:
        print(f"choice:     {answer.choice}")
    print(f"confidence: {answer.confidence:.2f}")
    print("evidence:")
    for i, e in enumerate(answer.evidence, 1):
        text = f'  "{e.text[:80]}"' if e.text else ""
        print(f"  {i}. {e.source:<16} {fmt_span(e.t_start, e.t_end):<16} score {e.score:.3f}{text}")
        if e.keyframe:
            print(f"     keyframe {e.keyframe}")


def _route_warnings() -> None:
    """Warnings become one ``warning:`` line each on stderr."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        print(f"warning: {_one_line(message)}", file=sys.stderr)

    warnings.showwarning = show


def _one_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
