"""Navigation evaluation: several agents on the same seeded episodes of one environment.

An agent is ``expert`` (the env's privileged planner, an upper bound), a policy name (``random``;
the memory agents ``bank``, ``spatial``, ``chunks`` and ``nomemory``, trained first with
``train-policy``'s defaults when no trained checkpoint is cached) or a checkpoint path. Every agent
plays episodes ``seed .. seed + N - 1``, so the tables compare like with like.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eval.nav_metrics import EpisodeResult, episode_result, summarize, wilson_interval
from vidmem.errors import VidmemError

MEMORY_AGENTS = ("bank", "spatial", "chunks", "nomemory")
AGENT_NAMES = ("expert", "random", *MEMORY_AGENTS)


class NavEvalError(VidmemError):
    """A bad evaluation request or an agent that failed mid-episode (the message names the episode)."""


class NavAgent(Protocol):
    """What the evaluation loop drives."""

    name: str

    def reset(self, episode_seed: int) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> int: ...

    def memory_steps(self) -> list[float]:
        """Timesteps of the entries the agent's memory holds now (for plots); empty without memory."""
        ...


class ExpertAgent:
    """The environment's privileged expert (shortest paths on the simulator's map)."""

    def __init__(self, env: Any) -> None:
        self.name = "expert"
        self.env = env

    def reset(self, episode_seed: int) -> None:
        del episode_seed

    def act(self, obs: dict[str, np.ndarray]) -> int:
        del obs
        return int(self.env.expert_action())

    def memory_steps(self) -> list[float]:
        return []


class PolicyAgent:
    """A ``MemoryPolicy`` with one episode state per episode (seeded by the episode)."""

    def __init__(self, name: str, policy: Any) -> None:
        self.name = name
        self.policy = policy
        self.state = None

    def reset(self, episode_seed: int) -> None:
        self.state = self.policy.new_state(seed=episode_seed)

    def act(self, obs: dict[str, np.ndarray]) -> int:
        out = self.policy.infer_batch([obs], [self.state])[0]
        return int(np.asarray(out["actions"]).reshape(-1)[0])

    def memory_steps(self) -> list[float]:
        memory = getattr(self.state, "memory", None) or {}
        if "time" not in memory or "valid" not in memory:
            return []
        time, valid = memory["time"][0], memory["valid"][0]
        return [float(t) for t in time[valid].tolist()]


@dataclass
class EpisodeTrace:
    """What a plot needs from one played episode."""

    agent: str
    result: EpisodeResult
    poses: list[tuple[float, float, float]]
    memory_steps: list[float] = field(default_factory=list)


def check_agent_names(specs: list[str]) -> None:
    """Each spec is a known agent name or an existing file; else a one-line "did you mean" error."""
    if len(set(specs)) != len(specs):
        raise NavEvalError(f"an agent is listed twice: {specs}")
    for spec in specs:
        if spec in AGENT_NAMES or Path(spec).is_file():
            continue
        if spec.endswith(".pt") or "/" in spec:
            raise NavEvalError(f"agent checkpoint {spec!r} does not exist")
        close = difflib.get_close_matches(spec, AGENT_NAMES, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise NavEvalError(f"unknown agent {spec!r}{hint} (known: {', '.join(AGENT_NAMES)}, or a checkpoint path)")


def make_agent(spec: str, env_name: str, env: Any, progress: bool = True) -> NavAgent:
    """Builds one agent for ``env`` (training a memory agent first when its checkpoint is not cached)."""
    if spec == "expert":
        return ExpertAgent(env)
    from robot.policies import CheckpointError, build_policy, load_policy

    height, width = env.observation_spec()["rgb"][0][:2]
    goal_dim = env.observation_spec()["goal"][0][0]
    if spec == "random":
        return PolicyAgent(spec, build_policy("random", image_size=(height, width), goal_dim=goal_dim))
    if spec in MEMORY_AGENTS:
        policy = _trained_policy(spec, env_name, env, progress)
    else:
        try:
            policy = load_policy(spec)
        except (CheckpointError, ValueError, OSError) as exc:
            raise NavEvalError(f"agent {spec!r}: {exc}") from None
    check_inputs(spec, policy, env)
    return PolicyAgent(spec, policy)


def _trained_policy(name: str, env_name: str, env: Any, progress: bool) -> Any:
    """The cached checkpoint of ``name`` trained on ``env_name``, (re)trained with train-policy's defaults.

    A checkpoint is trained when absent, and retrained (saying why on stderr) when it was made with
    another recipe than today's defaults (older epochs, no DAgger, another architecture): otherwise
    a stale cache would silently report figures of an old recipe.
    """
    from robot.policies import load_policy
    from robot.policies.train import TrainConfig, cache_staleness, cached_checkpoint, config_for_env, train_policy

    path = cached_checkpoint(env_name, name)
    config = TrainConfig(progress=bool(progress))
    why = cache_staleness(path, config, config_for_env(name, env))
    if why:
        print(f"training {name} on {env_name}: {why}", file=sys.stderr)
        train_policy(env_name, name, config)
    return load_policy(path, expect=name)


def check_inputs(spec: str, policy: Any, env: Any) -> None:
    """Refuses a policy whose inputs do not match the env's observations (one line naming the key)."""
    env_spec = env.observation_spec()
    for key, (shape, dtype) in policy.config.input_spec().items():
        if key not in env_spec:
            raise NavEvalError(f"agent {spec!r} needs observation {key!r}, which env {env.name!r} does not give")
        got_shape, got_dtype = env_spec[key]
        if tuple(got_shape) != tuple(shape) or str(got_dtype) != str(dtype):
            raise NavEvalError(
                f"agent {spec!r} expects {key!r} {dtype} {list(shape)} but env {env.name!r} gives "
                f"{got_dtype} {list(got_shape)} (trained on another env?)"
            )


def run_episode(env: Any, agent: NavAgent, seed: int) -> EpisodeTrace:
    """Plays one episode to its end; any failure is re-raised naming the agent, episode and step."""
    obs = env.reset(seed)
    agent.reset(seed)
    episode_id = env.episode.episode_id
    done, step = False, 0
    try:
        while not done:
            action = agent.act(obs)
            obs, done = env.step(action)
            step += 1
    except Exception as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise NavEvalError(f"agent {agent.name!r} failed in episode {episode_id} at step {step}: {msg}") from exc
    poses = list(env.trajectory)
    result = episode_result(
        episode_id=episode_id,
        positions=[(x, z) for x, z, _ in poses],
        shortest_path=env.episode_shortest_path(),
        distance_to_goal=env.geodesic_distance_to_goal(),
        goals_reached=env.goals_reached(),
        goals=len(env.episode.goals),
        steps=env.steps,
    )
    return EpisodeTrace(agent.name, result, poses, agent.memory_steps())


def evaluate(
    env_name: str,
    agents: list[str],
    episodes: int,
    seed: int = 0,
    plot_dir: str | Path | None = None,
    plot_episodes: int = 3,
    progress: bool = True,
    env_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs every agent on the same ``episodes`` seeded episodes; returns the ``--json`` object.

    Returns:
        ``{"env", "episodes", "seed", "agents": {name: {"success", "spl", "softspl",
        "distance_to_goal", "path_length", "steps", "progress", "success_ci95", "episodes"}},
        "plots": [paths]}``; success, SPL and SoftSPL are fractions in [0, 1].
    """
    from robot.envs import EnvError, make_env

    if episodes < 1:
        raise NavEvalError(f"--episodes must be >= 1, got {episodes}")
    if not agents:
        raise NavEvalError("give at least one --agent")
    check_agent_names(agents)
    try:
        env = make_env(env_name, seed=seed, **(env_options or {}))
    except EnvError as exc:
        raise NavEvalError(str(exc)) from None
    try:
        if getattr(env, "action_dim", None) or "rgb" not in env.observation_spec():
            raise NavEvalError(f"env {env_name!r} is not a discrete navigation env with a camera; nav-eval needs one")
        built = [make_agent(spec, env_name, env, progress) for spec in agents]
        table: dict[str, dict[str, Any]] = {}
        plots: list[str] = []
        bar = _progress_bar(len(built) * episodes, progress)
        for agent in built:
            traces = []
            for i in range(episodes):
                traces.append(run_episode(env, agent, seed + i))
                bar(f"{agent.name} {env_name}-{seed + i}")
            table[agent.name] = _agent_row(traces)
            if plot_dir is not None:
                plots += _plot(env, traces[:plot_episodes], seed, Path(plot_dir))
        bar(None)
    finally:
        env.close()
    return {"env": env_name, "episodes": episodes, "seed": seed, "agents": table, "plots": plots}


def _agent_row(traces: list[EpisodeTrace]) -> dict[str, Any]:
    results = [t.result for t in traces]
    row: dict[str, Any] = summarize(results)
    low, high = wilson_interval(sum(r.success for r in results), len(results))
    row["success_ci95"] = [low, high]
    return row


def _plot(env: Any, traces: list[EpisodeTrace], seed: int, folder: Path) -> list[str]:
    from eval.nav_plot import plot_episode

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, trace in enumerate(traces):
        env.reset(seed + i)  # the map and goals of that episode
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(trace.agent).stem)
        path = folder / f"{env.name}_{safe}_ep{seed + i}.png"
        plot_episode(env, trace, path)
        paths.append(str(path))
    return paths


def _progress_bar(total: int, enabled: bool) -> Callable[[str | None], None]:
    """A tqdm bar on stderr; call it with a label per finished episode and ``None`` at the end."""
    if not enabled:
        return lambda label: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="episode", file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(label: str | None) -> None:
        if label is None:
            bar.close()
            return
        bar.set_postfix_str(label, refresh=False)
        bar.update(1)

    return update


def format_table(report: dict[str, Any]) -> str:
    """The human-readable table ``nav-eval`` prints without ``--json``."""
    lines = [
        f"env {report['env']}, {report['episodes']} episodes from seed {report['seed']}",
        f"{'agent':<24} {'success':>8} {'95% CI':>13} {'SPL':>6} {'SoftSPL':>8} {'dist':>6} {'steps':>6}",
    ]
    for name, row in report["agents"].items():
        low, high = row["success_ci95"]
        dist = row["distance_to_goal"]
        lines.append(
            f"{name:<24} {row['success']:>8.2f} {f'[{low:.2f},{high:.2f}]':>13} {row['spl']:>6.2f} "
            f"{row['softspl']:>8.2f} {dist if math.isfinite(dist) else float('nan'):>6.2f} {row['steps']:>6.1f}"
        )
    for path in report.get("plots", []):
        lines.append(f"plot: {path}")
    return "\n".join(lines)
