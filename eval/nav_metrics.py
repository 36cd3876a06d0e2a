"""Navigation metrics as habitat-lab defines them (``habitat/tasks/nav/nav.py`` measures).

- ``success``: 1 when STOP was called and the distance to the goal is below the success distance
  (strict ``<``, as Habitat's ``Success``), else 0.
- ``spl``: ``success * l / max(l, p)`` with ``l`` the shortest-path (geodesic) distance from the
  start to the goal and ``p`` the length of the path the agent walked (sum of the straight-line
  distances between consecutive positions).
- ``softspl``: ``max(0, 1 - d / l) * l / max(l, p)`` with ``d`` the distance to the goal at the end.
- ``distance_to_goal``: the geodesic distance to the goal at the end of the episode.

For tasks with several goals in order (``multiobject``), ``l`` and ``d`` run through every goal
still to be reached (MultiON's chained shortest path), and success means every goal was reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


def success(stop_called: bool, distance_to_goal: float, success_distance: float) -> float:
    """Habitat's Success: STOP called within (strictly below) the success distance."""
    return 1.0 if stop_called and distance_to_goal < success_distance else 0.0


def path_length(positions: Iterable[Sequence[float]]) -> float:
    """Sum of straight-line distances between consecutive positions (float [N, 2] or [N, 3])."""
    points = np.asarray(list(positions), dtype=np.float64)
    if len(points) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def spl(episode_success: float, shortest_path: float, agent_path: float) -> float:
    """Success weighted by (normalised inverse) Path Length: ``S * l / max(l, p)``."""
    if episode_success <= 0:
        return 0.0
    denominator = max(shortest_path, agent_path)
    return float(episode_success) if denominator == 0 else float(episode_success * shortest_path / denominator)


def soft_spl(distance_to_goal: float, shortest_path: float, agent_path: float) -> float:
    """SoftSPL: ``max(0, 1 - d / l) * l / max(l, p)``; success softened to the progress made.

    Habitat divides by ``l`` unguarded; a start already on the goal (``l == 0``) scores 1 when the
    agent is still there and 0 otherwise.
    """
    if shortest_path == 0:
        return 1.0 if distance_to_goal == 0 else 0.0
    progress = max(0.0, 1.0 - distance_to_goal / shortest_path)
    return float(progress * shortest_path / max(shortest_path, agent_path))


@dataclass(frozen=True)
class EpisodeResult:
    """Metrics of one episode (fractions in [0, 1], distances in metres)."""

    episode_id: str
    success: float
    spl: float
    softspl: float
    distance_to_goal: float
    shortest_path: float
    path_length: float
    steps: int
    goals_reached: int
    goals: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def episode_result(
    episode_id: str,
    positions: Sequence[Sequence[float]],
    shortest_path: float,
    distance_to_goal: float,
    goals_reached: int,
    goals: int,
    steps: int,
) -> EpisodeResult:
    """Scores one finished episode.

    Args:
        positions: float [N, 2|3] agent positions, the start first, one per step.
        shortest_path: geodesic length from the start through every goal (``l``).
        distance_to_goal: geodesic distance still to go at the end (``d``; 0 after the last goal).
        goals_reached: goals the agent stopped at within the success distance, in order.
        goals: goals in the episode.
    """
    walked = path_length(positions)
    ok = 1.0 if goals_reached >= goals else 0.0
    return EpisodeResult(
        episode_id=episode_id,
        success=ok,
        spl=spl(ok, shortest_path, walked),
        softspl=soft_spl(distance_to_goal, shortest_path, walked),
        distance_to_goal=float(distance_to_goal),
        shortest_path=float(shortest_path),
        path_length=walked,
        steps=int(steps),
        goals_reached=int(goals_reached),
        goals=int(goals),
    )


def summarize(results: Sequence[EpisodeResult]) -> dict[str, float]:
    """Means over episodes: success, spl, softspl, distance_to_goal, path_length, steps, goal progress."""
    if not results:
        raise ValueError("no episodes to summarize")

    def mean(values: Iterable[float]) -> float:
        values = list(values)
        return float(sum(values) / len(values))

    return {
        "success": mean(r.success for r in results),
        "spl": mean(r.spl for r in results),
        "softspl": mean(r.softspl for r in results),
        "distance_to_goal": mean(r.distance_to_goal for r in results),
        "path_length": mean(r.path_length for r in results),
        "steps": mean(r.steps for r in results),
        "progress": mean(r.goals_reached / r.goals for r in results),
        "episodes": len(results),
    }


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (for reading the figures' noise)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
