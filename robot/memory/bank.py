"""MemoryVLA's perceptual-cognitive memory bank, batched over episodes.

Each entry holds ``P`` perceptual tokens (compressed observation features) and one cognitive
token, with the timestep it was written at. Reading: the current cognitive token attends over
the bank's cognitive tokens and the current perceptual tokens over the bank's perceptual tokens;
the keys carry sinusoidal+MLP timestep encodings; a gate fuses what was retrieved into the
current tokens. Writing: the fused tokens are appended; when the bank is full it either merges
the most similar adjacent pair of entries (cosine similarity of their cognitive tokens; the pair
becomes its mean, timestep included) or drops the oldest entry (FIFO).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robot.memory.common import CrossAttention, GateFusion, TimeEncoding, fuse_with_memory

WHEN_FULL = ("merge", "fifo")


@dataclass(frozen=True)
class BankConfig:
    """Shape and policy of the bank.

    Attributes:
        dim: token width D.
        perceptual_tokens: perceptual tokens per entry P.
        capacity: entries per episode (MemoryVLA's default is 16).
        when_full: ``merge`` (most similar adjacent pair) or ``fifo`` (drop the oldest).
    """

    dim: int = 64
    perceptual_tokens: int = 4
    capacity: int = 16
    when_full: str = "merge"

    def __post_init__(self) -> None:
        if self.dim < 2 or self.dim % 2:
            raise ValueError(f"bank dim must be an even number >= 2, got {self.dim}")
        if self.perceptual_tokens < 1:
            raise ValueError(f"bank perceptual_tokens must be >= 1, got {self.perceptual_tokens}")
        if self.capacity < 2:
            raise ValueError(f"bank capacity must be >= 2, got {self.capacity}")
        if self.when_full not in WHEN_FULL:
            raise ValueError(f"bank when_full must be one of {WHEN_FULL}, got {self.when_full!r}")


class MemoryBank(nn.Module):
    """Perceptual-cognitive bank. State tensors (B episodes, C = capacity, P tokens, D width):

    - ``perceptual``: float32 [B,C,P,D]
    - ``cognitive``: float32 [B,C,D]
    - ``time``: float32 [B,C] (timestep each entry was written at; merged entries hold the mean)
    - ``valid``: bool [B,C] (entries fill slots 0..n-1 in time order)
    """

    def __init__(self, config: BankConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.time_encoding = TimeEncoding(d)
        self.attend_cognitive = CrossAttention(d)
        self.attend_perceptual = CrossAttention(d)
        self.fuse_cognitive = GateFusion(d)
        self.fuse_perceptual = GateFusion(d)

    def init_state(self, batch: int) -> dict[str, torch.Tensor]:
        """An empty bank for ``batch`` episodes."""
        c, p, d = self.config.capacity, self.config.perceptual_tokens, self.config.dim
        return {
            "perceptual": torch.zeros(batch, c, p, d),
            "cognitive": torch.zeros(batch, c, d),
            "time": torch.zeros(batch, c),
            "valid": torch.zeros(batch, c, dtype=torch.bool),
        }

    def forward(
        self, tokens: torch.Tensor, place: torch.Tensor, t: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reads, fuses and writes one step.

        Args:
            tokens: float32 [B,1+P,D]; token 0 is cognitive, the rest perceptual.
            place: float32 [B,3] (unused by the bank; the memories share one signature).
            t: float32 [B] current timestep of each episode.
            state: the bank's tensors (see the class docstring).

        Returns:
            (fused tokens float32 [B,1+P,D], new state).
        """
        del place
        fused = self.read(tokens, state)
        return fused, self.write(state, fused, t)

    def read(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-attends and gate-fuses; float32 [B,1+P,D] -> [B,1+P,D]."""
        b, c = state["valid"].shape
        p = self.config.perceptual_tokens
        time_keys = self.time_encoding(state["time"])  # [B,C,D]
        valid = state["valid"]
        cog_cur = tokens[:, :1]
        cog_ret = self.attend_cognitive(cog_cur, state["cognitive"] + time_keys, state["cognitive"], valid)
        per_keys = (state["perceptual"] + time_keys.unsqueeze(2)).reshape(b, c * p, -1)
        per_vals = state["perceptual"].reshape(b, c * p, -1)
        per_mask = valid.unsqueeze(2).expand(b, c, p).reshape(b, c * p)
        per_ret = self.attend_perceptual(tokens[:, 1:], per_keys, per_vals, per_mask)
        any_valid = valid.any(dim=1)
        cog = fuse_with_memory(self.fuse_cognitive, cog_cur, cog_ret, any_valid)
        per = fuse_with_memory(self.fuse_perceptual, tokens[:, 1:], per_ret, any_valid)
        return torch.cat([cog, per], dim=1)

    def write(self, state: dict[str, torch.Tensor], tokens: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """Appends one entry per episode (float32 [B,1+P,D] at timestep float32 [B])."""
        valid = state["valid"]
        b, c = valid.shape
        count = valid.sum(dim=1)  # [B]
        full = count >= c
        base = state
        if bool(full.any()):  # a Python branch: short episodes never pay for merging
            # Make room at slot C-1: merge (or drop) and shift the later entries left by one.
            drop_at = self._merge_index(state) if self.config.when_full == "merge" else torch.full((b,), -1)
            compacted = _remove_slot(state, drop_at)
            base = {k: torch.where(_bcast(full, v), compacted[k], v) for k, v in state.items()}
        slot = torch.where(full, torch.full_like(count, c - 1), count)
        new_entry = {
            "perceptual": tokens[:, 1:],
            "cognitive": tokens[:, 0],
            "time": t.float(),
            "valid": torch.ones(b, dtype=torch.bool),
        }
        return {k: _put(base[k], slot, new_entry[k]) for k in base}

    def _merge_index(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Index i of the most similar adjacent pair (i, i+1) by cognitive-token cosine; int64 [B]."""
        cog = torch.nn.functional.normalize(state["cognitive"], dim=-1)
        sims = (cog[:, :-1] * cog[:, 1:]).sum(-1)  # [B,C-1]
        pair_valid = state["valid"][:, :-1] & state["valid"][:, 1:]
        return sims.masked_fill(~pair_valid, float("-inf")).argmax(dim=1)


def _bcast(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Views a [B] or [B,C] mask so it broadcasts against ``like``."""
    return mask.view(*mask.shape, *([1] * (like.dim() - mask.dim())))


def _put(value: torch.Tensor, slot: torch.Tensor, entry: torch.Tensor) -> torch.Tensor:
    """``value`` [B,C,...] with ``entry`` [B,...] written at ``slot`` int64 [B] (out of place)."""
    index = slot.view(-1, 1, *([1] * (value.dim() - 2))).expand(-1, 1, *value.shape[2:])
    return value.scatter(1, index, entry.unsqueeze(1).to(value.dtype))


def _remove_slot(state: dict[str, torch.Tensor], merge_at: torch.Tensor) -> dict[str, torch.Tensor]:
    """Frees the last slot: merges entries (i, i+1) into slot i, or drops slot 0 where i == -1.

    Entries after the freed position shift left by one; slot C-1 then holds a stale copy that
    the caller overwrites.
    """
    valid = state["valid"]
    b, c = valid.shape
    ar = torch.arange(c).unsqueeze(0)  # [1,C]
    i = merge_at.unsqueeze(1)  # [B,1]
    drop = i < 0
    # Source slot for each target slot: merge keeps 0..i and pulls from j+1 after i; FIFO pulls j+1.
    src = torch.where(drop, ar + 1, torch.where(ar > i, ar + 1, ar)).clamp(max=c - 1)
    out = {}
    for key, value in state.items():
        idx = src.view(b, c, *([1] * (value.dim() - 2))).expand_as(value)
        shifted = value.gather(1, idx)
        if key != "valid":
            pair_mean = (
                value.gather(1, _at(i.clamp(min=0), value)) + value.gather(1, _at(i.clamp(min=0) + 1, value))
            ) / 2
            at_i = (ar == i) & ~drop
            shifted = torch.where(_bcast(at_i, value), pair_mean, shifted)
        out[key] = shifted
    return out


def _at(index: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Gather index [B,1] broadcast to select one slot of ``value`` [B,C,...]."""
    return index.view(-1, 1, *([1] * (value.dim() - 2))).expand(-1, 1, *value.shape[2:])
