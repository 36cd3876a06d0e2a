"""Policy benchmark: inference latency per step by memory type and episode length, and training time.

Latency is the wall time of one ``infer_batch`` call for one episode (encoder + memory + head),
measured over whole episodes of each length with random observations (latency does not depend on
the weights), all memory types stepping in lockstep so that load from other processes hits each
alike. A memory whose cost stays flat shows the same p50 in the first and the last 10% of a long
episode. Training time is behaviour cloning of the given agents on a small task.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

MEMORIES = ("bank", "spatial", "chunks", "nomemory")


def random_observation(spec: dict[str, tuple[tuple[int, ...], str]], rng: np.random.Generator) -> dict:
    """One observation of random values matching ``spec``."""
    obs = {}
    for key, (shape, dtype) in spec.items():
        if dtype == "uint8":
            obs[key] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            obs[key] = rng.normal(size=shape).astype(np.float32)
    return obs


def interleaved_latencies(policies: dict[str, Any], length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Seconds per step of one ``length``-step episode per policy, float64 [length] each.

    The policies step in lockstep (step t of every policy before step t+1 of any), so a burst of
    load from other processes on the shared machine hits every memory type alike.
    """
    rng = np.random.default_rng(seed)
    first = next(iter(policies.values()))
    observations = [random_observation(first.config.input_spec(), rng) for _ in range(min(length, 64))]
    for policy in policies.values():  # warm-up on another episode: first calls allocate and pick kernels
        warm = policy.new_state(seed=seed + 1)
        for obs in observations[:20]:
            policy.infer_batch([obs], [warm])
    states = {name: policy.new_state(seed=seed) for name, policy in policies.items()}
    out = {name: np.empty(length) for name in policies}
    for t in range(length):
        obs = observations[t % len(observations)]
        for name, policy in policies.items():
            start = time.perf_counter()
            policy.infer_batch([obs], [states[name]])
            out[name][t] = time.perf_counter() - start
    return out


def latency_table(memories: list[str], lengths: list[int], max_chunks: int = 128) -> dict[str, Any]:
    """``{memory: {length: {p50_ms, p99_ms, first10_p50_ms, last10_p50_ms, state_bytes}}}``."""
    from robot.policies import build_policy

    policies = {memory: build_policy(memory, max_chunks=max_chunks) for memory in memories}
    table: dict[str, Any] = {memory: {} for memory in memories}
    for length in lengths:
        tenth = max(1, length // 10)
        for memory, seconds in interleaved_latencies(policies, length).items():
            lat = seconds * 1000.0
            table[memory][str(length)] = {
                "p50_ms": round(float(np.percentile(lat, 50)), 3),
                "p99_ms": round(float(np.percentile(lat, 99)), 3),
                "first10_p50_ms": round(float(np.median(lat[:tenth])), 3),
                "last10_p50_ms": round(float(np.median(lat[-tenth:])), 3),
                "state_bytes": policies[memory].new_state().nbytes,
            }
    return table


def training_times(env_name: str, agents: list[str], episodes: int, epochs: int) -> dict[str, Any]:
    """Behaviour-cloning wall time (and held-out success) per agent on ``env_name``."""
    from robot.envs.base import make_env
    from robot.policies.rollout import success_rate
    from robot.policies.train import TrainConfig, behaviour_clone, collect, config_for_env

    config = TrainConfig(episodes=episodes, epochs=epochs, dagger_rounds=0, progress=False)
    env = make_env(env_name, seed=0)
    try:
        start = time.perf_counter()
        demos = collect(env, config)
        record_s = time.perf_counter() - start
        out: dict[str, Any] = {"env": env_name, "episodes": episodes, "epochs": epochs, "record_s": round(record_s, 2)}
        for agent in agents:
            policy, stats = behaviour_clone(config_for_env(agent, env), demos, config)
            out[agent] = {"train_s": stats["train_seconds"], "success": success_rate(policy, env, 30, seed=90_000)}
        return out
    finally:
        env.close()


def run_cli(args) -> dict[str, Any]:
    """``vidmem bench policy``: prints the tables unless ``--json``."""
    import torch

    torch.set_num_threads(1)
    memories = [m for m in args.memories.split(",") if m]
    lengths = [int(v) for v in args.lengths.split(",") if v]
    report: dict[str, Any] = {"latency": latency_table(memories, lengths), "torch_threads": 1}
    if args.train_env:
        agents = [a for a in args.train_agents.split(",") if a]
        report["training"] = training_times(args.train_env, agents, args.train_episodes, args.train_epochs)
    if not args.json:
        print(format_report(report))
    return report


def format_report(report: dict[str, Any]) -> str:
    """Plain-text tables of a ``run_cli`` report."""
    lines = ["memory     steps   p50 ms   p99 ms   first10% p50   last10% p50   state bytes"]
    for memory, rows in report["latency"].items():
        for length, r in rows.items():
            lines.append(
                f"{memory:<10} {length:>5} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['first10_p50_ms']:>14.2f}"
                f" {r['last10_p50_ms']:>13.2f} {r['state_bytes']:>13}"
            )
    training = report.get("training")
    if training:
        lines.append(f"\ntraining on {training['env']}: {training['episodes']} demos, {training['epochs']} epochs")
        for agent, r in training.items():
            if isinstance(r, dict):
                lines.append(f"  {agent:<10} train {r['train_s']:>7.1f} s   held-out success {r['success']:.2f}")
    return "\n".join(lines)
