"""Spatially-Aware Transformer memory: entries keyed by place and time, with an adaptive allocator.

Each entry is a cognitive token written at a place (x, z, heading) and a timestep, with a visit
count (how often the agent came back within ``visit_radius`` of it). Reading is place-centric:
the ``k`` nearest places (ties broken by recency: "nearest places, then time") are attended over
with relative-place and elapsed-time encodings on the keys, and a gate fuses the result into the
current token. When the memory is full, the Adaptive Memory Allocator picks the entry to evict:
FIFO (oldest), LIFO (newest), least-visited-first or most-visited-first, either fixed by config
or chosen per step by a small Q-network over task features (``learned``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robot.memory.common import CrossAttention, GateFusion, TimeEncoding, fuse_with_memory

STRATEGIES = ("fifo", "lifo", "least_visited", "most_visited")
FEATURES = 4


@dataclass(frozen=True)
class SpatialConfig:
    """Spatial memory settings.

    Attributes:
        dim: token width D.
        capacity: entries per episode N.
        k: nearest places retrieved per step.
        allocator: one of ``STRATEGIES`` or ``learned`` (the Q-network chooses per step).
        visit_radius: metres within which standing near an entry counts as a visit.
        heading_weight: metres one radian of heading difference counts as, in place distance.
    """

    dim: int = 64
    capacity: int = 32
    k: int = 8
    allocator: str = "fifo"
    visit_radius: float = 0.75
    heading_weight: float = 0.3

    def __post_init__(self) -> None:
        if self.capacity < 2:
            raise ValueError(f"spatial capacity must be >= 2, got {self.capacity}")
        if not 1 <= self.k <= self.capacity:
            raise ValueError(f"spatial k must be in [1, capacity={self.capacity}], got {self.k}")
        if self.allocator not in (*STRATEGIES, "learned"):
            raise ValueError(f"allocator must be one of {(*STRATEGIES, 'learned')}, got {self.allocator!r}")
        if self.visit_radius <= 0 or self.heading_weight < 0:
            raise ValueError("visit_radius must be > 0 and heading_weight >= 0")


def angle_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Absolute heading difference in [0, pi]."""
    return torch.remainder(a - b + torch.pi, 2 * torch.pi).sub(torch.pi).abs()


def eviction_slot(state: dict[str, torch.Tensor], strategy: torch.Tensor) -> torch.Tensor:
    """The entry each episode evicts under its strategy (index into ``STRATEGIES``); int64 [B].

    Ties between equally visited entries go to the oldest (FIFO order), so every strategy is
    deterministic.
    """
    time, visits = state["time"], state["visits"]
    age_rank = time / (time.max(dim=1, keepdim=True).values + 1.0)  # in [0, 1): tie breaker only
    scores = torch.stack(
        [
            -time,  # fifo: oldest
            time,  # lifo: newest
            -(visits + age_rank),  # least visited, then oldest
            visits - age_rank,  # most visited, then oldest
        ],
        dim=1,
    )  # [B,4,N]; the highest score is evicted
    scores = scores.masked_fill(~state["valid"].unsqueeze(1), float("-inf"))
    chosen = scores.gather(1, strategy.view(-1, 1, 1).expand(-1, 1, scores.shape[2])).squeeze(1)
    return chosen.argmax(dim=1)


class AllocatorChooser(nn.Module):
    """Q-network over task features picking an eviction strategy (the learned allocator).

    Features (float32 [B,4]): memory fill, episode progress ``t/(t+100)``, mean visits per entry
    ``v/(1+v)``, and the fraction of entries revisited. ``fit`` trains it as a contextual bandit:
    Q(features, strategy) regresses the reward observed after using that strategy.
    """

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.q = nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, len(STRATEGIES)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """float32 [B,4] -> Q-values float32 [B,4] (one per strategy)."""
        return self.q(features)

    def choose(self, features: torch.Tensor) -> torch.Tensor:
        """Greedy strategy index per row; int64 [B]."""
        return self(features).argmax(dim=1)

    def fit(
        self,
        features: torch.Tensor,
        strategies: torch.Tensor,
        rewards: torch.Tensor,
        epochs: int = 200,
        lr: float = 1e-2,
    ) -> float:
        """Regresses Q(features, strategy) on observed rewards; returns the final mean squared error."""
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        loss = torch.tensor(0.0)
        for _ in range(epochs):
            q = self(features).gather(1, strategies.view(-1, 1)).squeeze(1)
            loss = ((q - rewards) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return float(loss.detach())


def allocator_features(state: dict[str, torch.Tensor], t: torch.Tensor) -> torch.Tensor:
    """The learned chooser's task features for each episode; float32 [B,4]."""
    valid = state["valid"].float()
    count = valid.sum(dim=1).clamp(min=1.0)
    mean_visits = (state["visits"] * valid).sum(dim=1) / count
    revisited = ((state["visits"] > 1).float() * valid).sum(dim=1) / count
    fill = valid.mean(dim=1)
    return torch.stack([fill, t / (t + 100.0), mean_visits / (1.0 + mean_visits), revisited], dim=1)


class SpatialMemory(nn.Module):
    """Place-keyed memory. State tensors (B episodes, N = capacity, D width):

    ``value`` float32 [B,N,D], ``place`` float32 [B,N,3] (x, z, heading), ``time`` float32 [B,N],
    ``visits`` float32 [B,N], ``valid`` bool [B,N].
    """

    def __init__(self, config: SpatialConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.time_encoding = TimeEncoding(d)
        self.place_encoding = nn.Sequential(nn.Linear(4, d), nn.SiLU(), nn.Linear(d, d))
        self.attend = CrossAttention(d)
        self.fuse = GateFusion(d)
        self.chooser = AllocatorChooser() if config.allocator == "learned" else None
        # Set by the allocator's trainer to try one strategy per episode (not saved in checkpoints).
        self.forced_strategy: int | None = None

    def init_state(self, batch: int) -> dict[str, torch.Tensor]:
        """An empty memory for ``batch`` episodes."""
        n, d = self.config.capacity, self.config.dim
        return {
            "value": torch.zeros(batch, n, d),
            "place": torch.zeros(batch, n, 3),
            "time": torch.zeros(batch, n),
            "visits": torch.zeros(batch, n),
            "valid": torch.zeros(batch, n, dtype=torch.bool),
        }

    def forward(
        self, tokens: torch.Tensor, place: torch.Tensor, t: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reads around ``place`` float32 [B,3], fuses into token 0 of ``tokens`` [B,1+P,D], writes it."""
        cur = tokens[:, :1]
        idx = self.nearest(state, place, t)  # [B,k]
        sel = {k: _take(v, idx) for k, v in state.items()}
        rel = sel["place"] - place.unsqueeze(1)
        dh = rel[..., 2]
        rel_code = torch.stack([rel[..., 0], rel[..., 1], torch.sin(dh), torch.cos(dh)], dim=-1)
        keys = sel["value"] + self.place_encoding(rel_code) + self.time_encoding(t.unsqueeze(1) - sel["time"])
        retrieved = self.attend(cur, keys, sel["value"], sel["valid"])
        fused = fuse_with_memory(self.fuse, cur, retrieved, state["valid"].any(dim=1))
        state = self.write(self.count_visits(state, place), fused[:, 0], place, t)
        return torch.cat([fused, tokens[:, 1:]], dim=1), state

    def place_distance(self, state: dict[str, torch.Tensor], place: torch.Tensor) -> torch.Tensor:
        """Distance from ``place`` [B,3] to every entry; float32 [B,N] (inf for empty slots)."""
        planar = (state["place"][..., :2] - place[:, None, :2]).norm(dim=-1)
        turn = angle_difference(state["place"][..., 2], place[:, None, 2])
        dist = planar + self.config.heading_weight * turn
        return dist.masked_fill(~state["valid"], float("inf"))

    def nearest(self, state: dict[str, torch.Tensor], place: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Indices of the ``k`` nearest entries, nearer first, equal places newest first; int64 [B,k]."""
        dist = self.place_distance(state, place)
        recency = (t.unsqueeze(1) - state["time"]) / (t.unsqueeze(1) + 1.0)  # [0, 1]: breaks ties only
        key = dist.round(decimals=3) + 1e-4 * recency
        return torch.topk(-key, self.config.k, dim=1).indices

    def count_visits(self, state: dict[str, torch.Tensor], place: torch.Tensor) -> dict[str, torch.Tensor]:
        """Adds one visit to every entry within ``visit_radius`` of the agent (planar distance)."""
        planar = (state["place"][..., :2] - place[:, None, :2]).norm(dim=-1)
        near = (planar <= self.config.visit_radius) & state["valid"]
        return {**state, "visits": state["visits"] + near.float()}

    def strategy(self, state: dict[str, torch.Tensor], t: torch.Tensor) -> torch.Tensor:
        """Eviction strategy index per episode (fixed by config, or the Q-network's choice); int64 [B]."""
        b = t.shape[0]
        if self.forced_strategy is not None:
            return torch.full((b,), self.forced_strategy, dtype=torch.long)
        if self.chooser is None:
            return torch.full((b,), STRATEGIES.index(self.config.allocator), dtype=torch.long)
        return self.chooser.choose(allocator_features(state, t).detach())

    def write(
        self, state: dict[str, torch.Tensor], value: torch.Tensor, place: torch.Tensor, t: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Stores ``value`` [B,D] at ``place`` [B,3] and time ``t`` [B]; evicts by the allocator when full."""
        valid = state["valid"]
        b, n = valid.shape
        count = valid.sum(dim=1)
        full = count >= n
        evict = eviction_slot(state, self.strategy(state, t))
        slot = torch.where(full, evict, count.clamp(max=n - 1))
        onehot = nn.functional.one_hot(slot, n).bool()  # [B,N]
        entry = {
            "value": value,
            "place": place.float(),
            "time": t.float(),
            "visits": torch.ones(b),
            "valid": torch.ones(b, dtype=torch.bool),
        }
        out = {}
        for key, old in state.items():
            mask = onehot.view(b, n, *([1] * (old.dim() - 2)))
            out[key] = torch.where(mask, entry[key].unsqueeze(1), old)
        return out


def _take(value: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """value [B,N,...] at idx [B,k] -> [B,k,...]."""
    return value.gather(1, idx.view(*idx.shape, *([1] * (value.dim() - 2))).expand(-1, -1, *value.shape[2:]))
