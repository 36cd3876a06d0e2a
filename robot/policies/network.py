"""``PolicyNet``: observation encoder -> memory -> features for the action head (torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from robot.memory import build_memory
from robot.policies.config import PolicyConfig
from robot.policies.heads import DiffusionHead, DiscreteHead

# Positions in MiniWorld/Habitat are metres; rooms span ~10 m, so this keeps inputs near [-2, 2].
POSITION_SCALE = 0.2


def _grid(tokens: int) -> tuple[int, int]:
    """Pooling grid (rows, cols) with rows * cols == tokens, as square as possible."""
    rows = max(r for r in range(1, int(math.isqrt(tokens)) + 1) if tokens % r == 0)
    return rows, tokens // rows


class ObservationEncoder(nn.Module):
    """Observations -> tokens float32 [B,1+P,D] (token 0 cognitive, P perceptual) and place [B,3]."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        d, p = config.dim, config.perceptual_tokens
        self.vector = nn.Sequential(nn.Linear(4 + config.goal_dim, d), nn.ReLU(), nn.Linear(d, d))
        if config.image_size is not None:
            self.conv = nn.Sequential(
                nn.Conv2d(3, 16, 5, stride=2, padding=2),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2, padding=1),
                nn.ReLU(),
            )
            self.pool = nn.AdaptiveAvgPool2d(_grid(p))
            self.cell = nn.Linear(32, d)
            self.cell_position = nn.Parameter(torch.randn(p, d) * 0.02)
            self.cognitive = nn.Sequential(nn.Linear(32 * p + d, d), nn.ReLU(), nn.Linear(d, d))
        else:
            self.perceptual = nn.Linear(d, p * d)
            self.cognitive = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))

    def forward(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs``: rgb uint8 [B,H,W,3] (if the policy has a camera), gps_compass float32 [B,3], goal [B,G]."""
        gps = obs["gps_compass"].float()
        heading = gps[:, 2:3]
        vec_in = torch.cat(
            [gps[:, :2] * POSITION_SCALE, torch.sin(heading), torch.cos(heading), obs["goal"].float()], 1
        )
        vec = self.vector(vec_in)
        b, p, d = gps.shape[0], self.config.perceptual_tokens, self.config.dim
        if self.config.image_size is not None:
            image = obs["rgb"].permute(0, 3, 1, 2).float() / 255.0
            cells = self.pool(self.conv(image)).flatten(2).transpose(1, 2)  # [B,P,32]
            perceptual = self.cell(cells) + self.cell_position
            cognitive = self.cognitive(torch.cat([cells.flatten(1), vec], dim=1))
        else:
            perceptual = self.perceptual(vec).view(b, p, d)
            cognitive = self.cognitive(vec)
        return torch.cat([cognitive.unsqueeze(1), perceptual], dim=1), gps


class PolicyNet(nn.Module):
    """Encoder + memory + head. ``encode`` runs per frame (batchable over time); ``step`` is recurrent."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ObservationEncoder(config)
        self.memory = build_memory(config.memory, memory_config(config))
        d = config.dim
        self.readout = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU())
        self.head = DiffusionHead(config) if config.head == "diffusion" else DiscreteHead(config)

    def encode(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Observations (batched) -> (tokens float32 [B,1+P,D], place float32 [B,3])."""
        return self.encoder(obs)

    def step(
        self, tokens: torch.Tensor, place: torch.Tensor, t: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One memory step: (features float32 [B,D] for the head, new memory state)."""
        fused, state = self.memory(tokens, place, t, state)
        features = self.readout(torch.cat([fused[:, 0], fused[:, 1:].mean(dim=1)], dim=1))
        return features, state


def memory_config(config: PolicyConfig):
    """The memory module's own config, derived from the policy's."""
    if config.memory == "bank":
        from robot.memory.bank import BankConfig

        return BankConfig(config.dim, config.perceptual_tokens, config.capacity, config.when_full)
    if config.memory == "spatial":
        from robot.memory.spatial import SpatialConfig

        return SpatialConfig(dim=config.dim, capacity=config.capacity, k=config.spatial_k, allocator=config.allocator)
    if config.memory == "chunks":
        from robot.memory.chunks import ChunkConfig

        return ChunkConfig(
            dim=config.dim, chunk_size=config.chunk_size, max_chunks=config.max_chunks, top_k=config.top_k
        )
    return None
