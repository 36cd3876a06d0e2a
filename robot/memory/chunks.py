"""HCAM chunk attention: past steps grouped into chunks; attend inside the top-k relevant chunks.

Every step's cognitive token is appended to a buffer of ``max_chunks`` chunks of ``chunk_size``
steps (the oldest chunk is dropped when the buffer is full). Reading scores each chunk's summary
(the mean of its tokens) against the current token, keeps the ``top_k`` best chunks, and
cross-attends over the tokens inside them only, so the cost per step grows with
``max_chunks + top_k * chunk_size``, not with the episode's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robot.memory.common import CrossAttention, GateFusion, TimeEncoding, fuse_with_memory


@dataclass(frozen=True)
class ChunkConfig:
    """Chunk memory settings (``dim`` D, ``chunk_size`` S, ``max_chunks`` M, ``top_k``)."""

    dim: int = 64
    chunk_size: int = 8
    max_chunks: int = 128
    top_k: int = 2

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.max_chunks < 1:
            raise ValueError("chunk_size and max_chunks must be >= 1")
        if not 1 <= self.top_k <= self.max_chunks:
            raise ValueError(f"top_k must be in [1, max_chunks={self.max_chunks}], got {self.top_k}")


class ChunkMemory(nn.Module):
    """Chunked episodic buffer. State tensors (B episodes, L = M*S slots in time order):

    ``value`` float32 [B,L,D], ``time`` float32 [B,L], ``valid`` bool [B,L].
    """

    def __init__(self, config: ChunkConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.summary_query = nn.Linear(d, d)
        self.summary_key = nn.Linear(d, d)
        self.time_encoding = TimeEncoding(d)
        self.attend = CrossAttention(d)
        self.fuse = GateFusion(d)

    def init_state(self, batch: int) -> dict[str, torch.Tensor]:
        """An empty buffer for ``batch`` episodes."""
        slots = self.config.chunk_size * self.config.max_chunks
        return {
            "value": torch.zeros(batch, slots, self.config.dim),
            "time": torch.zeros(batch, slots),
            "valid": torch.zeros(batch, slots, dtype=torch.bool),
        }

    def forward(
        self, tokens: torch.Tensor, place: torch.Tensor, t: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reads the top-k chunks for token 0 of ``tokens`` [B,1+P,D], fuses, appends the fused token."""
        del place
        cur = tokens[:, :1]
        chosen = self.select_chunks(cur[:, 0], state)  # [B,k]
        value, time, valid = self.gather_chunks(state, chosen)
        retrieved = self.attend(cur, value + self.time_encoding(t.unsqueeze(1) - time), value, valid)
        fused = fuse_with_memory(self.fuse, cur, retrieved, state["valid"].any(dim=1))
        return torch.cat([fused, tokens[:, 1:]], dim=1), self.write(state, fused[:, 0], t)

    def summaries(self, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean token of each chunk float32 [B,M,D] and whether the chunk holds anything, bool [B,M]."""
        b, _, d = state["value"].shape
        m, s = self.config.max_chunks, self.config.chunk_size
        valid = state["valid"].view(b, m, s)
        total = (state["value"].view(b, m, s, d) * valid.unsqueeze(-1)).sum(dim=2)
        count = valid.sum(dim=2, keepdim=True).clamp(min=1)
        return total / count, valid.any(dim=2)

    def select_chunks(self, query: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Indices of the ``top_k`` chunks whose summaries best match ``query`` [B,D]; int64 [B,k]."""
        summary, occupied = self.summaries(state)
        scores = torch.einsum("bd,bmd->bm", self.summary_query(query), self.summary_key(summary))
        scores = scores.masked_fill(~occupied, float("-inf"))
        return torch.topk(scores, self.config.top_k, dim=1).indices

    def gather_chunks(
        self, state: dict[str, torch.Tensor], chunks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens of the chosen chunks: value [B,k*S,D], time [B,k*S], valid bool [B,k*S]."""
        s = self.config.chunk_size
        slots = (chunks.unsqueeze(-1) * s + torch.arange(s)).flatten(1)  # [B,k*S]
        value = state["value"].gather(1, slots.unsqueeze(-1).expand(-1, -1, state["value"].shape[2]))
        return value, state["time"].gather(1, slots), state["valid"].gather(1, slots)

    def write(self, state: dict[str, torch.Tensor], value: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """Appends ``value`` [B,D] at time ``t`` [B]; a full buffer first drops its oldest chunk."""
        s = self.config.chunk_size
        valid = state["valid"]
        b, slots = valid.shape
        full = valid.sum(dim=1) >= slots
        rolled = {k: torch.roll(v, -s, dims=1) for k, v in state.items()}
        rolled["valid"] = rolled["valid"].clone()
        rolled["valid"][:, slots - s :] = False
        base = {k: torch.where(full.view(b, *([1] * (v.dim() - 1))), rolled[k], v) for k, v in state.items()}
        slot = base["valid"].sum(dim=1)
        onehot = nn.functional.one_hot(slot, slots).bool()
        entry = {"value": value, "time": t.float(), "valid": torch.ones(b, dtype=torch.bool)}
        return {
            k: torch.where(onehot.view(b, slots, *([1] * (v.dim() - 2))), entry[k].unsqueeze(1), v)
            for k, v in base.items()
        }
