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
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(run=_eval_memory)

    p = sub.add_parser("bench", help="speed and size benchmarks (print figures)")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    b = bsub.add_parser("ingest", help="ingest speed against pure decode, RSS, bytes per hour")
    b.add_argument("--minutes", type=float, default=10.0, help="main video length (default 10)")
    b.add_argument("--long-minutes", type=float, default=30.0, help="long video for the RSS ratio (default 30)")
    b.add_argument("--encoder", default="classical")
    b.add_argument("--video", help="also measure this real video")
    b.add_argument("--work", help="folder for generated videos and stores (default: temporary)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(run=_bench_ingest)


def _eval_memory(args: argparse.Namespace) -> dict[str, Any]:
    from eval.memory_bench import run_cli

    return run_cli(args)


def _bench_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from demos.sample_video import make_sample_video
    from eval.bench_ingest import run_cli

    return run_cli(args, make_sample_video)
