"""Pieces shared by the memories: timestep encodings, masked cross-attention and gate fusion.

Every memory keeps its contents as a dict of fixed-shape tensors with a leading batch axis
(``state``), so many episodes run in one batched pass and one episode's state can be sliced
out, stored and stacked back without changing any result.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_encoding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style sin/cos encoding of (possibly fractional) timesteps.

    Args:
        t: float [...] timesteps.
        dim: encoding width (even).

    Returns:
        float32 [..., dim].
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class TimeEncoding(nn.Module):
    """Sinusoidal encoding followed by a small MLP (MemoryVLA adds it to the memory's keys)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """float [...] -> float32 [..., dim]."""
        return self.mlp(sinusoidal_encoding(t, self.dim))


class GateFusion(nn.Module):
    """``g = sigmoid(W [x_cur; x_ret])``, ``out = g * x_cur + (1 - g) * x_ret`` (per channel)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, x_cur: torch.Tensor, x_ret: torch.Tensor) -> torch.Tensor:
        """float [..., D] x2 -> float [..., D]."""
        g = torch.sigmoid(self.proj(torch.cat([x_cur, x_ret], dim=-1)))
        return g * x_cur + (1.0 - g) * x_ret


class CrossAttention(nn.Module):
    """Single-head cross-attention from query tokens to memory entries, with a key mask."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.scale = dim**-0.5

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Attends ``query`` [B,Q,D] over ``keys``/``values`` [B,N,D] where ``mask`` bool [B,N] is True.

        Rows whose mask is all False return zeros (the memory is empty); the caller keeps the
        current token there.
        """
        scores = torch.matmul(self.q(query), self.k(keys).transpose(1, 2)) * self.scale
        # A large negative (not -inf) keeps fully masked rows finite; those rows are zeroed below.
        scores = scores.masked_fill(~mask.unsqueeze(1), -1e9)
        weights = torch.softmax(scores, dim=-1) * mask.unsqueeze(1)
        return self.out(torch.matmul(weights, self.v(values)))


def fuse_with_memory(
    fusion: GateFusion, current: torch.Tensor, retrieved: torch.Tensor, any_valid: torch.Tensor
) -> torch.Tensor:
    """Gate-fuses ``retrieved`` into ``current`` (float [B,...,D]) where the memory had entries (bool [B])."""
    fused = fusion(current, retrieved)
    keep = any_valid.view(-1, *([1] * (current.dim() - 1)))
    return torch.where(keep, fused, current)


def state_nbytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes held by one memory state's tensors."""
    return int(sum(t.numel() * t.element_size() for t in state.values()))
