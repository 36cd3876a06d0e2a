"""``vidmem serve-policy``: serve a robot policy over websockets (openpi wire format, episodes, batching)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``serve-policy`` to the ``vidmem`` parser."""
    p = sub.add_parser("serve-policy", help="serve a robot policy to many robots (openpi websocket protocol)")
    p.add_argument("--policy", required=True, help="registered name (tiny, random) or a checkpoint path")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--api-key", help="require 'Authorization: Api-Key KEY' (default: $VIDMEM_API_KEY, else none)")
    p.add_argument("--max-batch", type=int, default=32, help="most requests per forward pass (1 = one at a time)")
    p.add_argument("--max-wait-ms", type=float, default=2.0, help="how long a batch waits for more requests")
    p.add_argument("--idle-timeout", type=float, default=300.0, help="seconds before an idle episode is evicted")
    p.add_argument("--max-episodes", type=int, default=10_000, help="most live episodes (least recently used go)")
    p.add_argument("--max-message-bytes", type=int, default=16 * 1024 * 1024, help="largest accepted frame")
    p.add_argument(
        "--no-adaptive-wait",
        action="store_true",
        help="always wait --max-wait-ms for a fuller batch (default: stop once every active robot is in it)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for inference (default 1)")
    p.add_argument("--log-level", default="INFO", help="logging level on stderr (default INFO)")
    p.set_defaults(run=_serve_policy)


def _serve_policy(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio
    import logging

    from robot.serving import PolicyServer, ServerConfig

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get("VIDMEM_API_KEY") or None,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        idle_timeout_s=args.idle_timeout,
        max_episodes=args.max_episodes,
        max_message_bytes=args.max_message_bytes,
        adaptive_wait=not args.no_adaptive_wait,
    )
    policy = _load(args.policy, args.threads)
    server = PolicyServer(policy, config)

    def ready(port: int) -> None:
        # One line on stdout so a parent process (benchmark, supervisor) learns the port.
        print(f"serving {policy.name} on ws://{config.host}:{port}", flush=True)

    asyncio.run(server.serve(ready=ready))
    return {}


def _load(spec: str, threads: int):
    from robot.policies import load_policy

    policy = load_policy(spec)  # an unknown name fails here, before torch is imported
    import torch

    # 2 threads on a busy 2-core machine are slower than 1; batching, not threads, buys throughput.
    torch.set_num_threads(max(1, threads))
    return policy
