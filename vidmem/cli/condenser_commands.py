"""``vidmem train-condenser``: train the learned memory-token condenser on unlabeled videos."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``train-condenser`` to the ``vidmem`` parser."""
    p = sub.add_parser("train-condenser", help="train the learned memory-token condenser on unlabeled video")
    p.add_argument("--video", action="append", required=True, help="video file (repeatable); no labels needed")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt); index with --tokens OUT")
    p.add_argument("--tokens", type=int, default=8, help="memory tokens per clip, 4-16 (default 8)")
    p.add_argument("--epochs", type=int, default=30, help="passes over the clips (default 30)")
    p.add_argument("--encoder", default="classical", help="visual encoder of the stores it will serve")
    p.add_argument("--fps", type=float, default=1.0, help="frames per second, as the index will sample")
    p.add_argument("--clip-seconds", type=float, default=2.0, help="clip length, as the index will cut")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout", action="append", default=[], help="video kept out of training: token coverage of "
                   "its frames, learned vs kmeans (repeatable)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from encoders import build_encoder
    from encoders.condenser import build_condenser, coverage, train_condenser
    from vidmem.errors import VidmemError

    if not args.out.endswith(".pt"):
        raise VidmemError("--out must end in .pt (index finds a learned condenser by that suffix)")
    encoder = build_encoder(args.encoder)
    per_clip = max(1, round(args.fps * args.clip_seconds))
    videos = [_clips(video, encoder, args.fps, per_clip) for video in args.video]
    result = train_condenser(videos, tokens=args.tokens, epochs=args.epochs, seed=args.seed, out=args.out)
    result.update(out=args.out, videos=len(videos), clips=sum(len(v) for v in videos), encoder=encoder.name)
    if args.holdout:  # how close each held-out frame is to a token of its clip, learned vs training-free
        held = [_clips(video, encoder, args.fps, per_clip) for video in args.holdout]
        condensers = {"learned": build_condenser(args.out), "kmeans": build_condenser("kmeans", tokens=args.tokens)}
        result["holdout_coverage"] = {
            name: round(float(np.mean([coverage(c, clips) for clips in held])), 4) for name, c in condensers.items()
        }
    if not args.json:
        print(f"condenser: loss {result['first_loss']} -> {result['last_loss']} over {result['epochs']} epochs "
              f"on {result['clips']} clips; saved {args.out}")  # fmt: skip
        if args.holdout:
            print(f"held-out token coverage: {result['holdout_coverage']}")
    return result


def _clips(video: str, encoder, fps: float, per_clip: int) -> list:
    """The video's frame features cut into clips, ``float32 [per_clip,D]`` each (the last may be shorter)."""
    import numpy as np

    from vidmem.errors import VidmemError
    from vidmem.io import sample_frames

    frames = [f.image for f in sample_frames(video, fps=fps, max_side=640)]
    if len(frames) < 3 * per_clip:
        raise VidmemError(f"{video} is too short: the condenser learns from runs of three clips")
    batches = [np.stack(frames[i : i + 32]) for i in range(0, len(frames), 32)]
    vectors = np.concatenate([encoder.encode_images(b) for b in batches])
    return [vectors[i : i + per_clip] for i in range(0, len(vectors), per_clip)]
