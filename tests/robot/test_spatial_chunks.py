"""Spatial memory (place-centric retrieval, each allocator, the learned chooser) and HCAM chunks."""

from __future__ import annotations

import pytest
import torch

from robot.memory.chunks import ChunkConfig, ChunkMemory
from robot.memory.spatial import STRATEGIES, AllocatorChooser, SpatialConfig, SpatialMemory, eviction_slot

D = 8


def _spatial(**kw) -> SpatialMemory:
    torch.manual_seed(0)
    return SpatialMemory(SpatialConfig(dim=D, **kw))


def _fill(memory: SpatialMemory, places: list[tuple[float, float, float]]) -> dict[str, torch.Tensor]:
    state = memory.init_state(1)
    for t, place in enumerate(places):
        state = memory.write(state, torch.full((1, D), float(t)), torch.tensor([place]), torch.tensor([float(t)]))
    return state


def test_retrieval_takes_nearest_places_then_the_newest():
    memory = _spatial(capacity=6, k=3)
    #            t=0          t=1          t=2            t=3          t=4 (same place as t=1)
    state = _fill(memory, [(5, 5, 0), (1, 0, 0), (0.5, 0, 0), (9, 9, 0), (1, 0, 0)])
    idx = memory.nearest(state, torch.tensor([[0.9, 0.0, 0.0]]), torch.tensor([5.0]))
    assert state["time"][0, idx[0]].tolist() == [4.0, 1.0, 2.0]


def test_heading_counts_in_place_distance():
    memory = _spatial(capacity=4, k=1, heading_weight=1.0)
    state = _fill(memory, [(0, 0, 3.1), (0.5, 0, 0.0)])
    idx = memory.nearest(state, torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([2.0]))
    assert state["time"][0, idx[0]].tolist() == [1.0]  # 0.5 m away beats the same spot facing back


def _state_for_eviction() -> dict[str, torch.Tensor]:
    return {
        "time": torch.tensor([[2.0, 0.0, 3.0, 1.0]]),
        "visits": torch.tensor([[5.0, 1.0, 1.0, 7.0]]),
        "valid": torch.ones(1, 4, dtype=torch.bool),
    }


@pytest.mark.parametrize(
    ("strategy", "slot"),
    [("fifo", 1), ("lifo", 2), ("least_visited", 1), ("most_visited", 3)],
)
def test_each_allocator_evicts_its_entry(strategy, slot):
    chosen = eviction_slot(_state_for_eviction(), torch.tensor([STRATEGIES.index(strategy)]))
    assert chosen.tolist() == [slot]


def test_least_visited_breaks_ties_by_age():
    state = _state_for_eviction()
    state["visits"] = torch.tensor([[1.0, 3.0, 1.0, 3.0]])  # slots 0 (t=2) and 2 (t=3) tie
    assert eviction_slot(state, torch.tensor([STRATEGIES.index("least_visited")])).tolist() == [0]


@pytest.mark.parametrize("allocator", ["fifo", "lifo", "most_visited"])
def test_full_memory_evicts_by_config(allocator):
    memory = _spatial(capacity=3, k=2, allocator=allocator, visit_radius=0.1)
    state = _fill(memory, [(0, 0, 0), (5, 0, 0), (9, 0, 0)])
    state = memory.count_visits(state, torch.tensor([[5.0, 0.0, 0.0]]))  # the t=1 entry is visited twice
    state = memory.write(state, torch.full((1, D), 7.0), torch.tensor([[2.0, 2.0, 0.0]]), torch.tensor([3.0]))
    kept = sorted(state["time"][0].tolist())
    expected = {"fifo": [1.0, 2.0, 3.0], "lifo": [0.0, 1.0, 3.0], "most_visited": [0.0, 2.0, 3.0]}
    assert kept == expected[allocator] and state["valid"].all()


def test_visits_count_returns_to_a_place():
    memory = _spatial(capacity=4, k=2, visit_radius=0.5)
    state = _fill(memory, [(0, 0, 0), (3, 0, 0)])
    for _ in range(3):
        state = memory.count_visits(state, torch.tensor([[0.2, 0.0, 1.0]]))
    assert state["visits"][0, :2].tolist() == [4.0, 1.0]


def test_learned_chooser_learns_which_strategy_pays_in_which_context():
    torch.manual_seed(0)
    features = torch.rand(400, 4)
    strategies = torch.randint(0, 4, (400,))
    # A synthetic task: LIFO pays when the memory is nearly full early on, least-visited otherwise.
    best = torch.where(features[:, 0] > 0.5, STRATEGIES.index("lifo"), STRATEGIES.index("least_visited"))
    rewards = (strategies == best).float()
    chooser = AllocatorChooser()
    chooser.fit(features, strategies, rewards, epochs=300)
    test = torch.rand(200, 4)
    want = torch.where(test[:, 0] > 0.5, STRATEGIES.index("lifo"), STRATEGIES.index("least_visited"))
    assert (chooser.choose(test) == want).float().mean() > 0.9


def test_learned_allocator_runs_inside_the_memory():
    memory = _spatial(capacity=2, k=2, allocator="learned")
    out, state = memory(torch.randn(1, 3, D), torch.zeros(1, 3), torch.zeros(1), memory.init_state(1))
    for t in range(1, 5):
        out, state = memory(torch.randn(1, 3, D), torch.tensor([[float(t), 0, 0]]), torch.tensor([float(t)]), state)
    assert out.shape == (1, 3, D) and state["valid"].sum() == 2 and 4.0 in state["time"][0].tolist()


def _chunks(**kw) -> ChunkMemory:
    torch.manual_seed(0)
    memory = ChunkMemory(ChunkConfig(dim=D, **kw))
    with torch.no_grad():  # identity projections: chunks are scored by plain dot product
        for layer in (memory.summary_query, memory.summary_key):
            layer.weight.copy_(torch.eye(D))
            layer.bias.zero_()
    return memory


def test_chunk_attention_selects_the_chunk_that_holds_the_match():
    memory = _chunks(chunk_size=4, max_chunks=6, top_k=1)
    e = torch.eye(D)
    state = memory.init_state(1)
    for t in range(20):  # chunks 0..4; chunk 3 (steps 12..15) holds the e[5] direction
        vec = e[5] if 12 <= t < 16 else e[t % 3]
        state = memory.write(state, vec.view(1, D), torch.tensor([float(t)]))
    assert memory.select_chunks(e[5].view(1, D), state).tolist() == [[3]]
    value, time, valid = memory.gather_chunks(state, torch.tensor([[3]]))
    assert time[0].tolist() == [12.0, 13.0, 14.0, 15.0] and valid.all()
    torch.testing.assert_close(value[0], e[5].expand(4, D))


def test_chunk_buffer_drops_the_oldest_chunk_when_full():
    memory = _chunks(chunk_size=2, max_chunks=3, top_k=2)
    state = memory.init_state(1)
    for t in range(7):
        state = memory.write(state, torch.full((1, D), float(t)), torch.tensor([float(t)]))
    assert state["valid"][0].tolist() == [True] * 5 + [False]
    assert state["time"][0, :5].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_chunk_memory_fuses_only_after_it_holds_something():
    memory = _chunks(chunk_size=2, max_chunks=4, top_k=2)
    tokens = torch.randn(2, 3, D)
    out, state = memory(tokens, torch.zeros(2, 3), torch.zeros(2), memory.init_state(2))
    torch.testing.assert_close(out, tokens)
    out2, _ = memory(tokens, torch.zeros(2, 3), torch.ones(2), state)
    assert not torch.allclose(out2[:, 0], tokens[:, 0]) and torch.equal(out2[:, 1:], tokens[:, 1:])


def test_fit_allocator_tries_each_strategy_and_trains_the_chooser():
    import dataclasses

    from robot.envs.base import make_env
    from robot.policies import build_policy
    from robot.policies.allocator_fit import fit_allocator
    from robot.policies.train import config_for_env

    env = make_env("cue_reach")
    config = dataclasses.replace(config_for_env("spatial_learned", env), dim=16, capacity=2, spatial_k=2, ddim_steps=2)
    policy = build_policy(config)
    memory = policy.net.memory
    before = [p.detach().clone() for p in memory.chooser.parameters()]
    report = fit_allocator(policy, env, episodes=12, seed=0)
    assert report["samples"] == 12  # every episode outgrows two entries, so eviction always mattered
    assert set(report["success_by_strategy"]) == set(STRATEGIES)
    assert sum(v is not None for v in report["success_by_strategy"].values()) >= 3
    assert memory.forced_strategy is None
    assert any(not torch.equal(a, b) for a, b in zip(before, memory.chooser.parameters(), strict=True))


def test_fit_allocator_refuses_a_policy_without_a_learned_allocator():
    from robot.envs.base import make_env
    from robot.policies import build_policy
    from robot.policies.allocator_fit import fit_allocator

    with pytest.raises(ValueError, match="allocator='learned'"):
        fit_allocator(build_policy("bank", dim=16), make_env("cue_reach"), episodes=1)
