"""Navigation metrics against trajectories worked out by hand (habitat-lab's definitions)."""

from __future__ import annotations

import math

import pytest

from eval.nav_metrics import episode_result, path_length, soft_spl, spl, success, summarize, wilson_interval


def test_success_needs_stop_strictly_within_the_distance():
    assert success(True, 0.1, 0.2) == 1.0
    assert success(True, 0.2, 0.2) == 0.0  # Habitat: distance < success_distance
    assert success(False, 0.0, 0.2) == 0.0  # at the goal but never stopped


def test_path_length_sums_straight_segments():
    # (0,0) -> (3,0) -> (3,4): 3 + 4; a turn in place adds nothing.
    assert path_length([(0, 0), (3, 0), (3, 0), (3, 4)]) == pytest.approx(7.0)
    assert path_length([(0, 0), (3, 4)]) == pytest.approx(5.0)  # the diagonal
    assert path_length([(1, 1)]) == 0.0


def test_spl_by_hand():
    # Shortest path 4 m, the agent walked 5 m and succeeded: 4 / 5.
    assert spl(1.0, 4.0, 5.0) == pytest.approx(0.8)
    # Walking less than the shortest path (it cannot, but Habitat clips with max): 1.
    assert spl(1.0, 4.0, 3.0) == pytest.approx(1.0)
    assert spl(0.0, 4.0, 4.0) == 0.0


def test_soft_spl_by_hand():
    # Started 4 m away, ended 1 m away after walking 6 m: (1 - 1/4) * 4/6 = 0.5.
    assert soft_spl(1.0, 4.0, 6.0) == pytest.approx(0.5)
    # Ended farther than it started: progress clips at 0.
    assert soft_spl(5.0, 4.0, 2.0) == 0.0
    # Reached (d = 0) on the shortest path: 1.
    assert soft_spl(0.0, 4.0, 4.0) == pytest.approx(1.0)


def test_episode_result_on_an_l_shaped_walk():
    # Goal 2 m east and 2 m north (shortest 4 m on the grid); the agent detours 2 m and stops on it.
    walk = [(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (2, 1), (2, 2)]
    r = episode_result("t-0", walk, shortest_path=4.0, distance_to_goal=0.0, goals_reached=1, goals=1, steps=9)
    assert r.path_length == pytest.approx(6.0)
    assert r.success == 1.0
    assert r.spl == pytest.approx(4 / 6)
    assert r.softspl == pytest.approx(4 / 6)
    # The same walk, but one of two goals reached and 3 m still to go: no success, soft progress.
    r2 = episode_result("t-1", walk, shortest_path=8.0, distance_to_goal=3.0, goals_reached=1, goals=2, steps=9)
    assert r2.success == 0.0 and r2.spl == 0.0
    assert r2.softspl == pytest.approx((1 - 3 / 8) * 1.0)


def test_summarize_means_and_interval():
    a = episode_result("a", [(0, 0), (2, 0)], 2.0, 0.0, 1, 1, 2)
    b = episode_result("b", [(0, 0), (0, 1)], 2.0, 1.0, 0, 1, 1)
    table = summarize([a, b])
    assert table["success"] == 0.5
    assert table["spl"] == pytest.approx(0.5)
    assert table["softspl"] == pytest.approx((1.0 + 0.5) / 2)
    assert table["distance_to_goal"] == pytest.approx(0.5)
    assert table["episodes"] == 2
    low, high = wilson_interval(25, 50)
    assert low < 0.5 < high and math.isclose(0.5 - low, high - 0.5, rel_tol=1e-9)
    with pytest.raises(ValueError):
        summarize([])
