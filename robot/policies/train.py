"""Behaviour cloning of memory policies from expert demonstrations, and the trained-checkpoint cache.

``train_policy(env, agent)`` records seeded expert episodes, trains the agent's architecture on
them (backpropagation through the memory over whole episodes, batched across episodes), and
saves the checkpoint. Checkpoints of registered agents are cached as
``$VIDMEM_HOME/policies/<env>-<agent>.pt`` (``VIDMEM_HOME`` defaults to ``~/.cache/vidmem``) so an
evaluation can train on demand and reuse the result.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot.policies import PRESETS, MemoryPolicy, build_policy, policy_config
from robot.policies.config import PolicyConfig
from robot.policies.demos import Demonstration, record_demonstrations

# Bumped when the training code changes what the same TrainConfig produces (invalidates cached checkpoints).
RECIPE_VERSION = 2


@dataclass(frozen=True)
class TrainConfig:
    """Behaviour-cloning settings (``vidmem train-policy``'s defaults).

    Attributes:
        episodes: expert episodes recorded.
        epochs: passes over the demonstrations.
        batch_size: episodes per gradient step.
        lr: Adam learning rate.
        seed: seeds the demonstrations (episode seeds ``seed*100_000 + i``), weights and batches.
        explore: probability of a perturbed action while recording (labels stay the expert's).
        allocator_episodes: rollouts that train a learned allocator (``spatial_learned``) after cloning.
        dagger_rounds: DAgger rounds after cloning: each plays ``dagger_episodes`` episodes with the
            learner acting and the expert labelling, adds them to the data and trains
            ``dagger_epochs`` more epochs on everything (``robot.policies.dagger``).
        dagger_episodes: learner episodes per DAgger round.
        dagger_epochs: epochs over the aggregated data after each round.
        progress: show tqdm bars (None: only when stderr is a terminal).
    """

    episodes: int = 300
    epochs: int = 60
    batch_size: int = 16
    lr: float = 5e-3
    seed: int = 0
    explore: float = 0.15
    allocator_episodes: int = 40
    dagger_rounds: int = 2
    dagger_episodes: int = 100
    dagger_epochs: int = 15
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("episodes, epochs and batch_size must be >= 1")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.dagger_rounds < 0 or self.dagger_episodes < 1 or self.dagger_epochs < 1:
            raise ValueError("dagger_rounds must be >= 0, dagger_episodes and dagger_epochs >= 1")

    def recipe(self) -> dict[str, Any]:
        """The settings that decide the trained weights (everything but the progress bars)."""
        fields = dataclasses.asdict(self)
        fields.pop("progress")
        return fields


def vidmem_home() -> Path:
    """``$VIDMEM_HOME`` or ``~/.cache/vidmem``."""
    return Path(os.environ.get("VIDMEM_HOME") or Path.home() / ".cache" / "vidmem")


def cached_checkpoint(env_name: str, agent_name: str) -> Path:
    """Where the trained checkpoint of a registered agent on an env lives (it may not exist yet)."""
    return vidmem_home() / "policies" / f"{env_name}-{agent_name}.pt"


def config_for_env(agent_name: str, env, seed: int = 0) -> PolicyConfig:
    """The agent preset shaped to the env's observations and actions."""
    spec = env.observation_spec()
    overrides: dict[str, Any] = {"goal_dim": int(spec["goal"][0][0]), "seed": seed}
    overrides["image_size"] = tuple(spec["rgb"][0][:2]) if "rgb" in spec else None
    # HCAM keeps the whole episode: enough chunks for the step limit, never more than the preset's.
    preset_chunks = policy_config(agent_name).max_chunks
    chunk_size = policy_config(agent_name).chunk_size
    overrides["max_chunks"] = max(2, min(preset_chunks, -(-int(env.max_steps) // chunk_size)))
    overrides["top_k"] = min(policy_config(agent_name).top_k, overrides["max_chunks"])
    if getattr(env, "action_dim", None):  # a continuous-action env: diffusion head over action chunks
        overrides["head"] = "diffusion" if agent_name != "random" else "random"
        overrides["action_dim"] = int(env.action_dim)
    return policy_config(agent_name, **overrides)


def train_policy(
    env_name: str, agent_name: str, config: TrainConfig | None = None, out: str | Path | None = None
) -> Path:
    """Records demonstrations on ``env_name``, trains ``agent_name`` and saves its checkpoint.

    Args:
        env_name: a registered env (``make_env``).
        agent_name: a registered policy preset (``bank``, ``spatial``, ``chunks``, ``nomemory``, ...).
        config: training settings (defaults: ``TrainConfig()``).
        out: checkpoint path (default: the cache, ``cached_checkpoint(env_name, agent_name)``).

    Returns:
        The checkpoint's path.
    """
    import torch

    from robot.envs.base import make_env
    from robot.policies.checkpoint import save_checkpoint

    torch.set_num_threads(1)  # small nets on shared cores: one thread is faster than two
    config = config or TrainConfig()
    if agent_name not in PRESETS:
        policy_config(agent_name)  # unknown name: "did you mean"
    env = make_env(env_name, seed=config.seed * 100_000)
    try:
        policy_cfg = config_for_env(agent_name, env, seed=config.seed)
        start = time.perf_counter()
        demos = collect(env, config)
        record_s = time.perf_counter() - start
        policy, stats = behaviour_clone(policy_cfg, demos, config)
        if config.dagger_rounds and policy.net is not None:
            stats["dagger"] = aggregate(policy, env, demos, config)
        if policy_cfg.allocator == "learned" and policy_cfg.memory == "spatial":
            from robot.policies.allocator_fit import fit_allocator

            stats["allocator"] = fit_allocator(
                policy, env, config.allocator_episodes, seed=config.seed * 100_000 + 50_000
            )
    finally:
        env.close()
    stats.update(env=env_name, agent=agent_name, record_seconds=round(record_s, 2))
    stats.update(recipe=recipe_id(config, policy_cfg), train_config=config.recipe())
    path = Path(out) if out is not None else cached_checkpoint(env_name, agent_name)
    save_checkpoint(policy, path, info=stats)
    return path


def collect(env, config: TrainConfig) -> list[Demonstration]:
    """Records ``config.episodes`` expert demonstrations with a progress bar."""
    with _bar(config, config.episodes, "demonstrations") as bar:
        return record_demonstrations(
            env, config.episodes, seed=config.seed * 100_000, explore=config.explore, progress=bar.update
        )


def behaviour_clone(
    policy_config_: PolicyConfig, demos: list[Demonstration], config: TrainConfig
) -> tuple[MemoryPolicy, dict[str, Any]]:
    """Trains a fresh policy of ``policy_config_`` on ``demos``; returns it and training figures."""
    import torch

    torch.manual_seed(config.seed)
    policy = build_policy(policy_config_)
    start = time.perf_counter()
    losses: list[float] = []
    if policy.net is not None:
        losses = _fit(policy, demos, config)
        policy.net.eval()
    policy.trained = policy.net is not None
    stats = {
        "episodes": len(demos),
        "expert_success": float(np.mean([d.success for d in demos])),
        "steps": int(sum(d.length for d in demos)),
        "epochs": config.epochs,
        "seed": config.seed,
        "final_loss": round(losses[-1], 5) if losses else None,
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    return policy, stats


def aggregate(policy: MemoryPolicy, env, demos: list[Demonstration], config: TrainConfig) -> list[dict[str, Any]]:
    """DAgger rounds on a cloned ``policy``: learner rollouts labelled by the expert, then more epochs.

    Rollout seeds (``seed*100_000 + 60_000 + ...``) are apart from the demonstrations' and from
    nav-eval's held-out 50000.. range. Returns, per round, the learner's success on its own rollouts
    (before that round's training) and the round's time.
    """
    from robot.policies.dagger import record_learner_episodes

    data = list(demos)
    rounds = []
    for r in range(config.dagger_rounds):
        start = time.perf_counter()
        seed = config.seed * 100_000 + 60_000 + r * config.dagger_episodes
        with _bar(config, config.dagger_episodes, f"dagger {r + 1} rollouts") as bar:
            new, success = record_learner_episodes(policy, env, config.dagger_episodes, seed, progress=bar.update)
        data += new
        losses = _fit(policy, data, config, epochs=config.dagger_epochs, round_=r + 1)
        policy.net.eval()
        rounds.append(
            {
                "learner_success": round(success, 3),
                "episodes": len(data),
                "final_loss": round(losses[-1], 5),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    return rounds


def recipe_id(config: TrainConfig, policy_config_: PolicyConfig) -> str:
    """A short hash of the training recipe and architecture: a cached checkpoint with another one is stale.

    ``RECIPE_VERSION`` is bumped when the training code changes what the same settings produce.
    """
    import hashlib
    import json

    text = json.dumps(
        {"version": RECIPE_VERSION, "train": config.recipe(), "policy": policy_config_.architecture()}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_staleness(path: Path, config: TrainConfig, policy_config_: PolicyConfig) -> str:
    """Why the checkpoint at ``path`` must be (re)trained for this recipe, or "" when it is current.

    A checkpoint saved before recipes were recorded, or with other settings or another architecture,
    is stale; so is a file that cannot be read as a checkpoint.
    """
    from robot.policies.checkpoint import read_checkpoint

    if not path.is_file():
        return f"no cached checkpoint at {path}"
    try:
        found = read_checkpoint(path)[2]["info"].get("recipe")
    except ValueError as exc:  # CheckpointError: replaced, never trusted
        return f"cached {path} is unreadable ({exc})"
    expected = recipe_id(config, policy_config_)
    if found != expected:
        return f"cached {path} was trained with another recipe ({found} != {expected} of the current defaults)"
    return ""


def _fit(
    policy: MemoryPolicy,
    demos: list[Demonstration],
    config: TrainConfig,
    epochs: int | None = None,
    round_: int = 0,
) -> list[float]:
    import torch

    net = policy.net
    net.train()
    epochs = config.epochs if epochs is None else epochs
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    # Each DAgger round shuffles with its own stream, so rounds do not replay the cloning's order.
    rng = np.random.default_rng(config.seed if round_ == 0 else [config.seed, round_])
    losses = []
    with _bar(config, epochs, "epochs") as bar:
        for _ in range(epochs):
            order = rng.permutation(len(demos))
            epoch = []
            for lo in range(0, len(order), config.batch_size):
                loss = episode_batch_loss(policy, [demos[i] for i in order[lo : lo + config.batch_size]])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                epoch.append(float(loss.detach()))
            losses.append(float(np.mean(epoch)))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update(1)
    return losses


def episode_batch_loss(policy: MemoryPolicy, demos: list[Demonstration]):
    """Mean action loss over every real step of a batch of episodes (padded to the longest).

    The encoder runs once over all frames; the memory then steps through time for all episodes
    together, so gradients flow through what the memory stored earlier in each episode.
    """
    import torch

    net, cfg = policy.net, policy.config
    b, t_max = len(demos), max(d.length for d in demos)
    keys = list(cfg.input_spec())
    obs = {k: torch.from_numpy(np.stack([_pad(d.observations[k], t_max) for d in demos])) for k in keys}
    flat = {k: v.reshape(b * t_max, *v.shape[2:]) for k, v in obs.items()}
    tokens, place = net.encode(flat)
    tokens = tokens.view(b, t_max, *tokens.shape[1:])
    place = place.view(b, t_max, -1)
    state = net.memory.init_state(b)
    features = []
    for t in range(t_max):
        feat, state = net.step(tokens[:, t], place[:, t], torch.full((b,), float(t)), state)
        features.append(feat)
    feats = torch.stack(features, dim=1).reshape(b * t_max, -1)
    mask = torch.from_numpy(np.stack([np.arange(t_max) < d.length for d in demos]).reshape(-1))
    if cfg.head == "diffusion":
        target = torch.from_numpy(np.stack([_pad(d.action_chunks(cfg.action_chunk), t_max) for d in demos]))
        per_step = net.head.loss(feats, target.reshape(b * t_max, cfg.action_chunk, cfg.action_dim))
    else:
        target = torch.from_numpy(np.stack([_pad(d.actions.astype(np.int64), t_max) for d in demos]))
        per_step = net.head.loss(feats, target.reshape(-1))
    return per_step[mask].mean()


def _pad(array: np.ndarray, length: int) -> np.ndarray:
    """Pads the time axis to ``length`` by repeating the last step (padded steps are masked out)."""
    if array.shape[0] == length:
        return array
    return np.concatenate([array, np.repeat(array[-1:], length - array.shape[0], axis=0)])


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        del n

    def set_postfix(self, **kw) -> None:
        del kw


def _bar(config: TrainConfig, total: int, desc: str):
    show = sys.stderr.isatty() if config.progress is None else config.progress
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False)


def replace(config: TrainConfig, **changes: Any) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (CLI options left unset)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
