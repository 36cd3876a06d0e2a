"""``vidmem train-policy``: behaviour cloning of a memory policy from an environment's expert."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``train-policy`` to the ``vidmem`` parser."""
    p = sub.add_parser(
        "train-policy",
        help="train a navigation/manipulation policy by behaviour cloning from the env's expert",
        description=(
            "Records seeded expert demonstrations on ENV, trains AGENT's architecture on them and saves "
            "config + weights in one checkpoint (default: the cache $VIDMEM_HOME/policies/ENV-AGENT.pt, "
            "which nav-eval reuses)."
        ),
    )
    p.add_argument("--env", required=True, help="environment name (tmaze, sign, multiobject, cue_reach, ...)")
    p.add_argument("--agent", required=True, help="policy preset: bank, spatial, spatial_learned, chunks, nomemory")
    p.add_argument("--out", help="checkpoint path (default: the cache)")
    p.add_argument("--seed", type=int, help="seed of demonstrations, weights and batches (default 0)")
    p.add_argument("--episodes", type=int, help="expert episodes to record (default 300)")
    p.add_argument("--epochs", type=int, help="passes over the demonstrations (default 60)")
    p.add_argument("--batch-size", type=int, help="episodes per gradient step (default 16)")
    p.add_argument("--lr", type=float, help="learning rate (default 5e-3)")
    p.add_argument(
        "--dagger-rounds",
        type=int,
        help="DAgger rounds after cloning (learner rollouts, expert labels; default 2, 0: cloning only)",
    )
    p.add_argument("--dagger-episodes", type=int, help="learner episodes per DAgger round (default 100)")
    p.add_argument("--dagger-epochs", type=int, help="epochs over the aggregated data per round (default 15)")
    p.add_argument("--eval-episodes", type=int, default=0, help="then run N held-out episodes and report success")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_train_policy)


def _train_policy(args: argparse.Namespace) -> dict[str, Any]:
    from robot.policies.train import TrainConfig, replace, train_policy

    config = replace(
        TrainConfig(),
        seed=args.seed,
        episodes=args.episodes,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        dagger_rounds=args.dagger_rounds,
        dagger_episodes=args.dagger_episodes,
        dagger_epochs=args.dagger_epochs,
        progress=False if args.no_progress else None,
    )
    path = train_policy(args.env, args.agent, config, out=args.out)
    from robot.policies.checkpoint import read_checkpoint

    result: dict[str, Any] = {"checkpoint": str(path), **read_checkpoint(path)[2]["info"]}
    if args.eval_episodes > 0:
        result["eval_success"] = _held_out_success(args.env, path, args.eval_episodes)
        result["eval_episodes"] = args.eval_episodes
    if not args.json:
        print(
            f"trained {args.agent} on {args.env}: {result['episodes']} demonstrations, {result['epochs']} epochs, "
            f"loss {result['final_loss']}, {result['train_seconds']} s -> {path}"
        )
        if "eval_success" in result:
            print(f"held-out success: {result['eval_success']:.2f} over {args.eval_episodes} episodes")
    return result


def _held_out_success(env_name: str, path, episodes: int) -> float:
    from robot.envs.base import make_env
    from robot.policies import load_policy
    from robot.policies.rollout import success_rate

    env = make_env(env_name)
    try:
        # Seeds far from the demonstrations' (seed * 100_000 + i).
        return success_rate(load_policy(path), env, episodes, seed=90_000)
    finally:
        env.close()
