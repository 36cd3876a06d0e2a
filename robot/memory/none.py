"""The memoryless stand-in: the same policy architecture with the memory taken out."""

from __future__ import annotations

import torch
from torch import nn


class NoMemory(nn.Module):
    """Passes tokens through unchanged and keeps no state (the ``nomemory`` baseline)."""

    def init_state(self, batch: int) -> dict[str, torch.Tensor]:
        """No tensors: the state is empty for every episode."""
        del batch
        return {}

    def forward(
        self, tokens: torch.Tensor, place: torch.Tensor, t: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """float32 [B,N,D] -> the same tokens, the same (empty) state."""
        del place, t
        return tokens, state
