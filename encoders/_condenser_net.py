"""The learned condenser's torch module and its self-supervised training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class CondenserNet(nn.Module):
    """K queries (shifted by the previous tokens) attend over frames and previous tokens.

    ``condense``: frames ``[B,T,D]``, previous ``[B,K,D]`` or None -> tokens ``[B,K,D]`` (unit).
    ``reconstruct``: tokens ``[B,K,D]``, T -> frames ``[B,T,D]`` (training only).
    ``predict_next``: tokens ``[B,K,D]`` -> the next clip's mean feature ``[B,D]`` (training only).
    """

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.frame_in = nn.Linear(config.dim, w)
        self.memory_in = nn.Linear(config.dim, w)
        self.queries = nn.Parameter(0.02 * torch.randn(config.tokens, w))
        self.kind = nn.Parameter(torch.zeros(2, w))  # marks frames vs previous tokens in the context
        self.pos = nn.Parameter(0.02 * torch.randn(config.max_frames, w))

        def layer():
            return nn.TransformerDecoderLayer(w, config.heads, 2 * w, dropout=0.0, batch_first=True)

        self.condenser = nn.TransformerDecoder(layer(), config.layers)
        self.token_out = nn.Linear(w, config.dim)
        self.token_in = nn.Linear(config.dim, w)
        self.decoder = nn.TransformerDecoder(layer(), 1)
        self.frame_out = nn.Linear(w, config.dim)
        self.next_out = nn.Linear(w, config.dim)

    def condense(self, frames: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        t = frames.shape[1]
        context = self.frame_in(frames) + self.pos[:t] + self.kind[0]
        queries = self.queries.expand(frames.shape[0], -1, -1)
        if previous is not None:
            memory = self.memory_in(previous)
            context = torch.cat([context, memory + self.kind[1]], dim=1)
            queries = queries + memory  # token k continues previous token k
        return F.normalize(self.token_out(self.condenser(queries, context)), dim=-1)

    def reconstruct(self, tokens: torch.Tensor, t: int) -> torch.Tensor:
        queries = self.pos[:t].expand(tokens.shape[0], -1, -1)
        return self.frame_out(self.decoder(queries, self.token_in(tokens)))

    def predict_next(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.next_out(self.token_in(tokens).mean(dim=1))


def _cosine_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (1 - F.cosine_similarity(a, b, dim=-1)).mean()


def _coverage_loss(tokens: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Every frame near some token: keeps tokens in the frames' space, so frame queries find them."""
    return (1 - torch.einsum("btd,bkd->btk", frames, tokens).amax(dim=-1)).mean()


def _triples(videos: list[list[np.ndarray]], t: int) -> tuple[torch.Tensor, ...]:
    """(previous clip, clip, next clip) triples whose clips all have ``t`` frames."""
    prev, cur, nxt = [], [], []
    for clips in videos:
        for i in range(1, len(clips) - 1):
            if all(len(c) == t for c in clips[i - 1 : i + 2]):
                prev.append(clips[i - 1])
                cur.append(clips[i])
                nxt.append(clips[i + 1])
    if not cur:
        raise ValueError("need videos of at least three clips to train the condenser")

    def stack(xs):
        return F.normalize(torch.from_numpy(np.stack(xs).astype(np.float32)), dim=-1)

    return stack(prev), stack(cur), stack(nxt)


def fit(config, videos: list[list[np.ndarray]], epochs: int, seed: int = 0) -> tuple[CondenserNet, list[float]]:
    """Trains on (previous, clip, next) triples; returns the module and the loss per epoch."""
    torch.manual_seed(seed)
    lengths = [len(c) for v in videos for c in v]
    t = min(max(set(lengths), key=lengths.count), config.max_frames)  # the usual clip length
    prev, cur, nxt = _triples([[c[:t] for c in v] for v in videos], t)
    net = CondenserNet(config)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(cur), generator=generator)
        total = 0.0
        for start in range(0, len(order), 32):
            b = order[start : start + 32]
            with torch.no_grad():
                memory = net.condense(prev[b], None)  # the memory as the stream would have it
            tokens = net.condense(cur[b], memory)
            loss = (
                _cosine_loss(net.reconstruct(tokens, t), cur[b])
                + _cosine_loss(net.predict_next(tokens), nxt[b].mean(dim=1))
                + _coverage_loss(tokens, cur[b])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        losses.append(total / len(cur))
    net.eval()
    return net, losses
