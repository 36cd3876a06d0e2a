"""``vidmem serve | webcam``: the web app over warm stores, and a live source written to memory."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``serve`` and ``webcam`` to the ``vidmem`` parser."""
    p = sub.add_parser("serve", help="serve stores over HTTP: JSON API and a page (timeline, ask, player)")
    p.add_argument("stores", nargs="+", metavar="STORE")
    _server_args(p)
    p.set_defaults(run=_serve)

    p = sub.add_parser("webcam", help="watch a live source, write memory as it goes, and serve the page")
    p.add_argument(
        "--source",
        required=True,
        help="camera index (0), RTSP/HTTP URL, a video file or 'browser'",
    )
    p.add_argument("--store", help="store directory (default: a new temporary one); a restart continues it")
    p.add_argument("--loop", action="store_true", help="replay a file source when it ends")
    p.add_argument(
        "--realtime", action="store_true", help="play a file source at its own speed (default: as fast as it decodes)"
    )
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    p.add_argument("--clip-seconds", type=float, default=2.0, help="clip length in seconds (default 2)")
    p.add_argument("--no-ocr", action="store_true", help="do not read on-screen text from keyframes")
    p.add_argument(
        "--clip-budget", type=int, default=20_000, help="clip memories kept; similar neighbours merge beyond"
    )
    _server_args(p)
    p.set_defaults(run=_webcam)


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--json", action="store_true", help="print one JSON object when the server stops")


def _serve(args: argparse.Namespace) -> dict[str, Any]:
    _one_thread_per_library()
    from vidmem.web.stores import StoreHandle, store_names

    handles = [StoreHandle(n, root) for n, root in zip(store_names(args.stores), args.stores, strict=True)]
    for h in handles:
        h.run(h.warm)  # a missing or foreign store fails here, with one line, before serving
    return _run_server(handles, None, args)


def _webcam(args: argparse.Namespace) -> dict[str, Any]:
    _one_thread_per_library()
    import tempfile

    from vidmem.live_ingest import LiveConfig
    from vidmem.web.live import LiveSession
    from vidmem.web.stores import StoreHandle, store_names

    store = args.store or tempfile.mkdtemp(prefix="vidmem-webcam-")
    config = LiveConfig(fps=args.fps, clip_seconds=args.clip_seconds, ocr=not args.no_ocr, clip_budget=args.clip_budget)
    live = LiveSession(store, config, loop=args.loop, realtime=args.realtime)
    live.start(args.source)
    handle = StoreHandle(store_names([store])[0], store)
    try:
        return _run_server([handle], live, args)
    finally:
        live.stop()


def _run_server(handles: list, live: Any, args: argparse.Namespace) -> dict[str, Any]:
    import logging

    import uvicorn

    from vidmem.web.app import create_app

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("vidmem").setLevel(logging.INFO)
    app = create_app(handles, live)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info", ws="websockets-sansio")
    server = uvicorn.Server(config)
    server.run()
    for h in handles:
        h.close()
    return {"stores": [h.name for h in handles], "stopped": True}


def _one_thread_per_library() -> None:
    """One OpenMP/BLAS thread per library: single queries are too small to split on busy cores."""
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
