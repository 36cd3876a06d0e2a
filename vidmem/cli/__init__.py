"""``vidmem``: the one command line. Each subcommand parses a typed config and calls library code.

Subcommands live in modules of this package, one module per family (``store_commands``:
index/ask/info; ``eval_commands``: eval/bench; ...). Each module has ``register(sub)``, which adds
its parsers and sets ``run`` (``args -> dict``) with ``set_defaults``; a module imports its heavy
code inside ``run`` only, so ``vidmem --help`` stays fast.

Errors print one line ``error: ...`` on stderr and exit non-zero (``--debug`` shows the traceback).
With ``--json`` stdout carries exactly one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from typing import NoReturn

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

# One line per family of subcommands; add a module here to add commands.
COMMAND_MODULES = (
    "vidmem.cli.store_commands",
    "vidmem.cli.eval_commands",
    "vidmem.cli.policy_commands",
    "vidmem.cli.nav_commands",
    "vidmem.cli.robot_commands",
    "vidmem.cli.web_commands",
    "vidmem.cli.condenser_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vidmem", description="Memory for long video: index it, ask it.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse with the house's error form: one ``error:`` line (no usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "unrecognized arguments: -" in message or "expected one argument" in message:
            hint = "; a question starting with '-' goes last, after '--': vidmem ask [OPTIONS] STORE -- '-5?'"
        command = self.prog.removeprefix("vidmem").strip()
        self.exit(EXIT_ERROR, f"error: {command + ': ' if command else ''}{one_line(message)}{hint}\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _route_warnings()
    try:
        result = args.run(args)
    except KeyboardInterrupt:
        print("error: interrupted; what was committed is kept, run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the one place that turns failures into one line
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _route_warnings() -> None:
    """Warnings become one ``warning:`` line each on stderr."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        print(f"warning: {one_line(message)}", file=sys.stderr)

    warnings.showwarning = show


def one_line(exc: object) -> str:
    """The text of an error or warning on one line."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
