"""``vidmem nav-eval``: navigation agents side by side on the same seeded episodes."""

from __future__ import annotations

import argparse
from typing import Any

# train-policy records demonstrations on seeds TRAIN_SEED * 100_000 + i (i < a few hundred).
DEFAULT_SEED = 50_000


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``nav-eval`` to the ``vidmem`` parser."""
    p = sub.add_parser(
        "nav-eval",
        help="success, SPL and SoftSPL of navigation agents on one environment",
        description=(
            "Runs each agent on the same episodes (seeds SEED..SEED+N-1). An agent is expert, random, a "
            "memory agent (bank, spatial, chunks, nomemory; trained with train-policy's defaults when no "
            "trained checkpoint is cached in $VIDMEM_HOME) or a checkpoint path."
        ),
    )
    p.add_argument("--env", required=True, help="environment name (tmaze, sign, multiobject, ...)")
    p.add_argument("--agent", action="append", required=True, help="agent name or checkpoint path (repeatable)")
    p.add_argument("--episodes", type=int, default=50, help="episodes per agent (default 50)")
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"first episode seed (default {DEFAULT_SEED}: held out from train-policy's demonstration seeds)",
    )
    p.add_argument("--plot", metavar="DIR", help="write top-down trajectory PNGs of the first episodes here")
    p.add_argument("--plot-episodes", type=int, default=3, help="episodes per agent to plot (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_nav_eval)


def _nav_eval(args: argparse.Namespace) -> dict[str, Any]:
    from eval.nav_eval import evaluate, format_table

    report = evaluate(
        args.env,
        args.agent,
        episodes=args.episodes,
        seed=args.seed,
        plot_dir=args.plot,
        plot_episodes=args.plot_episodes,
        progress=not args.no_progress,
    )
    if not args.json:
        print(format_table(report))
    return report
