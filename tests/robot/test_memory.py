"""Robot memories: bank capacity/merge/FIFO/isolation, gate fusion, timestep encoding, state pool."""

from __future__ import annotations

import math

import pytest
import torch

from robot.memory.bank import BankConfig, MemoryBank
from robot.memory.common import GateFusion, TimeEncoding, sinusoidal_encoding
from robot.memory.pool import StatePool
from robot.policies import build_policy

D, P = 8, 2


def _bank(capacity: int = 4, when_full: str = "fifo") -> MemoryBank:
    torch.manual_seed(0)
    return MemoryBank(BankConfig(dim=D, perceptual_tokens=P, capacity=capacity, when_full=when_full))


def _tokens(batch: int, value: torch.Tensor | float) -> torch.Tensor:
    base = torch.zeros(batch, 1 + P, D)
    return base + (value.view(batch, 1, -1) if isinstance(value, torch.Tensor) else value)


def _write_steps(bank: MemoryBank, vectors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    state = bank.init_state(1)
    for t, v in enumerate(vectors):
        state = bank.write(state, _tokens(1, v.view(1, D)), torch.tensor([float(t)]))
    return state


def test_bank_fifo_keeps_the_newest_entries_in_time_order():
    bank = _bank(capacity=4, when_full="fifo")
    state = _write_steps(bank, [torch.full((D,), float(i)) for i in range(7)])
    assert state["valid"].sum() == 4
    assert state["time"][0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert state["cognitive"][0, :, 0].tolist() == [3.0, 4.0, 5.0, 6.0]


def test_bank_merge_fuses_the_most_similar_adjacent_pair():
    bank = _bank(capacity=4, when_full="merge")
    e = torch.eye(D)
    # Entries 1 and 2 point the same way; every other adjacent pair is orthogonal.
    state = _write_steps(bank, [e[0], e[1], 2 * e[1], e[2], e[3]])
    assert state["valid"].sum() == 4
    assert state["time"][0].tolist() == [0.0, 1.5, 3.0, 4.0]
    torch.testing.assert_close(state["cognitive"][0, 1], 1.5 * e[1])
    torch.testing.assert_close(state["perceptual"][0, 1], (1.5 * e[1]).expand(P, D))
    torch.testing.assert_close(state["cognitive"][0, 3], e[3])


def test_bank_never_exceeds_capacity_over_a_long_episode():
    bank = _bank(capacity=3, when_full="merge")
    state = _write_steps(bank, [torch.randn(D) for _ in range(40)])
    assert state["valid"].sum() == 3
    assert state["time"][0, -1] == 39.0
    assert (state["time"][0].diff() > 0).all()  # merged entries stay in time order


def test_batched_bank_keeps_episodes_apart():
    bank = _bank(capacity=3, when_full="merge")
    torch.manual_seed(1)
    seq_a = [torch.randn(1 + P, D) for _ in range(6)]
    seq_b = [torch.randn(1 + P, D) for _ in range(6)]
    alone = bank.init_state(1)
    both = bank.init_state(2)
    with torch.no_grad():
        for t, (a, b) in enumerate(zip(seq_a, seq_b, strict=True)):
            out_alone, alone = bank(a.unsqueeze(0), torch.zeros(1, 3), torch.tensor([float(t)]), alone)
            out_both, both = bank(torch.stack([a, b]), torch.zeros(2, 3), torch.tensor([float(t)] * 2), both)
            torch.testing.assert_close(out_both[:1], out_alone, atol=1e-5, rtol=1e-5)
    for key in alone:
        torch.testing.assert_close(both[key][:1], alone[key], atol=1e-5, rtol=1e-5)


def test_empty_bank_returns_the_current_tokens():
    bank = _bank()
    tokens = torch.randn(2, 1 + P, D)
    out, state = bank(tokens, torch.zeros(2, 3), torch.zeros(2), bank.init_state(2))
    torch.testing.assert_close(out, tokens)
    assert state["valid"][:, 0].all() and state["valid"].sum() == 2


def test_reset_policy_state_starts_empty(make_obs):
    policy = build_policy("bank", dim=16, capacity=4)
    state = policy.new_state()
    for i in range(5):
        policy.infer_batch([make_obs(policy, i)], [state])
    assert int(state.memory["valid"].sum()) == 4
    assert int(policy.new_state().memory["valid"].sum()) == 0


def test_gate_fusion_math_and_shape():
    torch.manual_seed(0)
    fusion = GateFusion(D)
    cur, ret = torch.randn(3, 5, D), torch.randn(3, 5, D)
    out = fusion(cur, ret)
    assert out.shape == (3, 5, D)
    g = torch.sigmoid(torch.cat([cur, ret], -1) @ fusion.proj.weight.T + fusion.proj.bias)
    torch.testing.assert_close(out, g * cur + (1 - g) * ret)
    with torch.no_grad():
        fusion.proj.weight.zero_()
        fusion.proj.bias.fill_(-30.0)  # gate closed: all retrieved
    torch.testing.assert_close(fusion(cur, ret), ret, atol=1e-6, rtol=0)


def test_timestep_encoding_values_and_mlp_shape():
    enc = sinusoidal_encoding(torch.tensor([0.0, 1.0, 5.0]), 8)
    assert enc.shape == (3, 8)
    assert enc[0, :4].abs().max() == 0 and torch.allclose(enc[0, 4:], torch.ones(4))
    assert enc[1, 0] == pytest.approx(math.sin(1.0)) and enc[1, 4] == pytest.approx(math.cos(1.0))
    assert not torch.allclose(enc[1], enc[2])
    assert TimeEncoding(8)(torch.zeros(2, 5)).shape == (2, 5, 8)


class _Blob:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


def test_state_pool_evicts_least_recently_used_within_the_byte_bound():
    pool = StatePool(lambda: _Blob(100), max_bytes=300)
    for key in ("a", "b", "c"):
        pool.get(key)
    pool.get("a")  # a is now the most recent; b is the least
    pool.get("d")
    assert "b" not in pool and {"a", "c", "d"} <= {k for k in ("a", "c", "d") if k in pool}
    assert pool.evicted == 1 and pool.nbytes == 300
    fresh = pool.reset("a")
    assert pool.get("a") is fresh
    assert pool.drop("a") and "a" not in pool


def test_state_pool_holds_policy_states_by_episode_id(make_obs):
    policy = build_policy("tiny")
    one = policy.new_state().nbytes
    pool = StatePool(policy.new_state, max_bytes=2 * one)
    policy.infer_batch([make_obs(policy)], [pool.get("ep-1")])
    assert pool.get("ep-1").step == 1 and pool.get("ep-2").step == 0
    pool.get("ep-3")
    assert "ep-1" not in pool and len(pool) == 2
