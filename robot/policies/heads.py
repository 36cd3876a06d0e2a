"""Action heads: a discrete navigation head and a DDIM diffusion head for continuous action chunks."""

from __future__ import annotations

import math

import torch
from torch import nn

from robot.memory.common import sinusoidal_encoding
from robot.policies.config import PolicyConfig


class DiscreteHead(nn.Module):
    """Features float32 [B,D] -> logits float32 [B,A]; trained with cross-entropy on expert actions."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        d = config.dim
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, config.num_actions))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)

    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy per row; ``target`` int64 [B]. Returns float32 [B]."""
        return nn.functional.cross_entropy(self(features), target, reduction="none")


def _cosine_alpha_bars(steps: int) -> torch.Tensor:
    """Cumulative signal fractions of the cosine noise schedule (Nichol & Dhariwal); float32 [steps]."""
    s = 0.008
    x = torch.linspace(0, steps, steps + 1, dtype=torch.float64)
    f = torch.cos(((x / steps) + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


class DiffusionHead(nn.Module):
    """Denoises a chunk of future actions float32 [B,K,A] conditioned on features [B,D].

    Training predicts the added noise (DDPM, cosine schedule); inference runs DDIM (eta = 0)
    over ``ddim_steps`` evenly spaced noise levels. With ``cond_dropout`` > 0 the condition is
    replaced by a learned null vector in training, so classifier-free guidance can mix the
    conditional and unconditional predictions at inference (``guidance`` != 1).
    """

    def __init__(self, config: PolicyConfig, hidden: int = 256) -> None:
        super().__init__()
        self.config = config
        self.width = config.action_chunk * config.action_dim
        d = config.dim
        self.register_buffer("alpha_bars", _cosine_alpha_bars(config.diffusion_steps), persistent=False)
        self.null_condition = nn.Parameter(torch.zeros(d))
        self.level = nn.Sequential(nn.Linear(d, d), nn.SiLU())
        self.mlp = nn.Sequential(
            nn.Linear(self.width + 2 * d, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, self.width),
        )

    def predict_noise(self, noisy: torch.Tensor, level: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """noisy float32 [B,K*A], level int64 [B], condition [B,D] -> predicted noise [B,K*A]."""
        level_code = self.level(sinusoidal_encoding(level.float(), self.config.dim))
        return self.mlp(torch.cat([noisy, level_code, condition], dim=-1))

    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Noise-prediction MSE per row; ``target`` float32 [B,K,A] in [-1, 1]. Returns float32 [B]."""
        b = features.shape[0]
        x0 = target.reshape(b, self.width)
        level = torch.randint(0, self.config.diffusion_steps, (b,))
        noise = torch.randn_like(x0)
        ab = self.alpha_bars[level].unsqueeze(1)
        noisy = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        drop = torch.rand(b, 1) < self.config.cond_dropout
        condition = torch.where(drop, self.null_condition.expand_as(features), features)
        return ((self.predict_noise(noisy, level, condition) - noise) ** 2).mean(dim=1)

    @torch.no_grad()
    def sample(self, features: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """DDIM from ``noise`` float32 [B,K,A] to an action chunk float32 [B,K,A] in [-1, 1]."""
        cfg = self.config
        b = features.shape[0]
        x = noise.reshape(b, self.width)
        levels = torch.linspace(cfg.diffusion_steps - 1, 0, cfg.ddim_steps).round().long().tolist()
        for i, level in enumerate(levels):
            eps = self._guided_noise(x, torch.full((b,), level), features)
            ab = self.alpha_bars[level]
            x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1.0, 1.0)
            ab_next = self.alpha_bars[levels[i + 1]] if i + 1 < len(levels) else torch.tensor(1.0)
            x = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps
        return x.reshape(b, cfg.action_chunk, cfg.action_dim).clamp(-1.0, 1.0)

    def _guided_noise(self, x: torch.Tensor, level: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        conditional = self.predict_noise(x, level, features)
        if self.config.guidance == 1.0:
            return conditional
        unconditional = self.predict_noise(x, level, self.null_condition.expand_as(features))
        return unconditional + self.config.guidance * (conditional - unconditional)
