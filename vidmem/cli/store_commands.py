"""``vidmem index | ask | info``: the store commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``index``, ``ask`` and ``info`` to the ``vidmem`` parser."""
    p = sub.add_parser("index", help="stream videos into a memory store")
    p.add_argument("video", nargs="+", help="video file, folder (searched recursively) or @list.txt (one per line)")
    p.add_argument("--store", required=True, help="store directory (created when missing)")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    p.add_argument("--clip-seconds", type=float, default=2.0, help="clip length in seconds (default 2)")
    p.add_argument(
        "--detail-fps",
        type=float,
        help="also describe frames this often where footage changes fast, for image search; 0: off "
        "(default 5 with the classical encoder, off with learned ones)",
    )
    p.add_argument("--encoder", default="classical", help="visual encoder name or preset (default classical)")
    p.add_argument("--text-encoder", default="minilm", help="text encoder preset (default minilm, offline)")
    p.add_argument("--captions", help="caption JSON (seconds, or 'startframe_endframe' keys)")
    p.add_argument("--subtitles", action="append", default=[], help="SRT/VTT file (repeatable)")
    p.add_argument("--no-ocr", action="store_true", help="do not read on-screen text from keyframes")
    p.add_argument("--no-speech", action="store_true", help="do not transcribe the audio track")
    p.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"], help="video decoder")
    p.add_argument("--reindex", action="store_true", help="rebuild this video's memories from scratch")
    p.add_argument(
        "--clip-budget",
        type=int,
        default=20_000,
        help="clip memories kept per video; similar neighbours merge beyond it",
    )
    p.add_argument("--tokens", help="also store memory tokens per clip: kmeans (training-free) or a condenser .pt")
    p.add_argument("--workers", type=int, help="videos indexed at once by local processes (default 1)")
    p.add_argument("--cluster", help="run on Ray: 'ray' (a local cluster) or ray://HOST:PORT")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_index)

    p = sub.add_parser("ask", help="ask a store (or a video, indexed on first use) a question")
    p.add_argument("target", metavar="STORE_OR_VIDEO")
    p.add_argument("question", nargs="?", default="", help="the question (may be empty with --image)")
    p.add_argument("--image", help="an image to look for")
    p.add_argument("--choice", action="append", help="a multiple-choice option (repeat for each)")
    p.add_argument("--from", dest="t_from", type=float, help="only memories after this time (s)")
    p.add_argument("--to", dest="t_to", type=float, help="only memories before this time (s)")
    p.add_argument("--video", help="in a store of several videos: ask only this one (path, file name or stem)")
    p.add_argument("--store", help="store for a video target (default: a cache folder)")
    p.add_argument("--encoder", default="classical", help="encoder when a video must be indexed first")
    p.add_argument("--no-ocr", action="store_true", help="when indexing a video first: skip OCR")
    p.add_argument("--no-speech", action="store_true", help="when indexing a video first: skip speech")
    p.add_argument("--evidence", type=int, default=5, help="evidence items to show (default 5)")
    p.add_argument("--reasoner", default="embedded", help="embedded (default), openai or transformers")
    p.add_argument("--model", help="model: endpoint model id (openai) or path / cached id (transformers)")
    p.add_argument("--budget", type=int, help="hand the reasoner exactly this many question-related memories")
    p.add_argument("--rounds", type=int, default=6, help="search rounds at most (default 6)")
    p.add_argument("--plot", metavar="PNG", help="also draw the memory's timeline with the evidence marked")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_ask)

    p = sub.add_parser("info", help="describe a store")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_info)


def _index(args: argparse.Namespace) -> dict[str, Any]:
    from vidmem.ingest import IngestConfig, index_video

    config = IngestConfig(
        fps=args.fps, clip_seconds=args.clip_seconds, encoder=args.encoder, text_encoder=args.text_encoder,
        ocr=not args.no_ocr, speech=not args.no_speech, subtitles=tuple(args.subtitles), captions=args.captions,
        backend=args.backend, clip_budget=args.clip_budget, tokens=args.tokens, detail_fps=args.detail_fps,
    )  # fmt: skip
    if _is_collection(args):
        from vidmem.cli.collection_commands import index_many

        return index_many(args, config)
    report = index_video(
        args.video[0], args.store, config, progress=not args.json and sys.stderr.isatty(), reindex=args.reindex
    )
    if not args.json:
        counts = ", ".join(f"{k} {v}" for k, v in report.entries.items())
        print(f"{report.status}: {report.video} -> {report.store} ({report.clips} clips, {report.seconds:.1f} s)")
        print(f"memories: {counts}")
        if report.restored_keyframes:
            print(f"restored {report.restored_keyframes} missing keyframe file(s)")
    return report.to_json()


def _is_collection(args: argparse.Namespace) -> bool:
    """Several inputs, a folder, a list, workers or a cluster; one plain file keeps the one-video path."""
    one = args.video[0]
    plain = len(args.video) == 1 and not one.startswith("@") and not Path(one).is_dir()
    return not plain or args.workers is not None or args.cluster is not None


def _ask(args: argparse.Namespace) -> dict[str, Any]:
    _check_ask_args(args)
    if Path(args.target).is_dir():  # a video target is indexed first, and indexing wants every core
        _one_thread_per_library()
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
    with MemoryStore(store_dir, read_only=True) as store:
        config = AgentConfig(
            evidence=args.evidence, reasoner=args.reasoner, model=args.model, budget=args.budget, max_rounds=args.rounds
        )
        _check_indexed(store)
        if args.video:
            from vidmem.cli.collection_commands import restrict_to_video

            store = restrict_to_video(store, args.video)
        agent = RetrievalAgent(store, config)
        answer = agent.ask(args.question, image=image, choices=args.choice, window=window)
        if args.plot:
            from vidmem.agent.plot import plot_timeline

            plot_timeline(store, answer, args.plot, question=args.question)
    if not args.json:
        _print_answer(answer)
    return answer.to_json()


def _one_thread_per_library() -> None:
    """Pins OpenMP/BLAS pools (faiss, numpy, torch) to one thread unless the user chose otherwise.

    A single query is too small to split: on 2 busy cores one ran ~80x slower with 2 threads than
    with 1. The libraries read these variables once, when they load, so this runs before they do.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _index_for_ask(video: Path, store_dir: Path, args: argparse.Namespace) -> None:
    from vidmem.ingest import IngestConfig, index_video

    report = index_video(
        video,
        store_dir,
        IngestConfig(encoder=args.encoder, ocr=not args.no_ocr, speech=not args.no_speech),
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
    from vidmem.images import load_image

    return load_image(path)  # the declared size is checked before decoding


def _check_ask_args(args: argparse.Namespace) -> None:
    """Refuses what would give a confident answer to nothing: no words, empty choices, an empty window."""
    import math

    from vidmem.errors import QueryError

    question = args.question
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError("the question is not valid UTF-8 text") from None
    if question.strip() and not any(c.isalnum() for c in question):
        raise QueryError(f"the question {question[:40]!r} has no words (letters or digits) to search for")
    if not question.strip() and not args.image:
        raise QueryError("the question is empty; ask in words, or pass --image to look for a picture")
    for i, choice in enumerate(args.choice or [], 1):
        if not choice.strip():
            raise QueryError(f"--choice {i} is empty; every option needs words")
    for name, value in (("--from", args.t_from), ("--to", args.t_to)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise QueryError(f"{name} must be a number of seconds >= 0, got {value}")
    if args.t_from is not None and args.t_to is not None and args.t_from >= args.t_to:
        raise QueryError(f"--from {args.t_from:g} must be before --to {args.t_to:g}")


def _check_indexed(store) -> None:
    """A store whose first ingest has not reached its first checkpoint has nothing to search yet."""
    from vidmem.errors import QueryError

    if store.count() == 0:
        partial = any(s.status == "partial" for s in store.sources())
        hint = " (an ingest is running or stopped before its first checkpoint; run it again to resume)"
        raise QueryError(f"nothing is indexed yet in {store.root}{hint if partial else ''}")


def _info(args: argparse.Namespace) -> dict[str, Any]:
    from vidmem.cli.collection_commands import failed_sources, source_sizes
    from vidmem.storage.store import MemoryStore

    with MemoryStore(args.store, read_only=True) as store:
        sizes = source_sizes(store)
        info = {
            "store": str(store.root.resolve()),
            "schema_version": store.get_meta("schema_version"),
            "encoder": store.get_meta("encoder"),
            "text_encoder": store.get_meta("text_encoder"),
            "sources": [
                {"id": s.id, "path": s.path, "duration": s.duration, "status": s.status, "clips": s.next_clip}
                | sizes.get(s.id, {})
                for s in store.sources()
            ]
            + failed_sources(store),
            "memories": {f"{s}@{sc}" if sc else s: n for s, sc, n in store.groups()},
            "bytes": store.disk_bytes(),
            "missing_keyframes": len(store.missing_keyframes()),
        }
    if info["missing_keyframes"]:
        import warnings

        from vidmem.errors import StoreWarning

        warnings.warn(
            f"{info['missing_keyframes']} keyframe file(s) named by memories are missing from {args.store}/keyframes; "
            "run the same `vidmem index VIDEO --store STORE` again to restore them from the video",
            StoreWarning,
            stacklevel=1,
        )
    if not args.json:
        enc = info["encoder"] or {}
        print(f"store   {info['store']} (schema {info['schema_version']}, {info['bytes'] / 1e6:.2f} MB)")
        print(f"encoder {enc.get('name', '-')} {enc.get('version', '')}")
        for s in info["sources"]:
            if s["status"] == "failed":
                print(f"failed  {s['path']} ({s['error']})")
                continue
            dur = f"{s['duration']:.1f} s, {s['hours']:.2f} h" if s["duration"] else "?"
            size = f"{s['bytes'] / 1e6:.2f} MB"
            print(f"source  #{s['id']} {s['path']} ({dur}, {s['clips']} clips, {size}, {s['status']})")
        for group, n in info["memories"].items():
            print(f"  {group:<18} {n}")
    return info


def _print_answer(answer) -> None:
    from vidmem.agent.reasoner import fmt_span

    print(f"answer:     {answer.text}")
    if not answer.found:
        print("found:      no (nothing in memory supports an answer; the closest memories follow)")
    if answer.choice is not None:
        print(f"choice:     {answer.choice}")
    print(f"confidence: {answer.confidence:.2f}")
    print("evidence:")
    for i, e in enumerate(answer.evidence, 1):
        text = f'  "{e.text[:80]}"' if e.text else ""
        print(f"  {i}. {e.source:<16} {fmt_span(e.t_start, e.t_end):<16} score {e.score:.3f}{text}")
        if e.keyframe:
            print(f"     keyframe {e.keyframe}")
