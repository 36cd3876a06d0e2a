"""A grid over a floor plan: free cells, legal moves, shortest paths and the expert's planner.

The MiniWorld tasks move the agent on a 1-metre grid (forward = one cell, turns = 90 degrees), so
the privileged expert can plan exactly: breadth-first search over (cell, heading) states gives the
optimal action, and BFS over cells gives geodesic distances (Habitat's ``geodesic_distance`` on a
grid instead of a navmesh).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable

import numpy as np

Cell = tuple[int, int]
State = tuple[int, int, int]  # (i, j, heading index: 0 = +x, 1 = -z, 2 = -x, 3 = +z)

# Heading h faces (cos(h*pi/2), -sin(h*pi/2)) in (x, z), MiniWorld's dir_vec convention.
HEADING_STEPS: tuple[Cell, ...] = ((1, 0), (0, -1), (-1, 0), (0, 1))
NEIGHBOURS: tuple[Cell, ...] = HEADING_STEPS


class FloorGrid:
    """Free cells of a floor plan and the moves between them.

    Args:
        origin: world ``(x, z)`` of cell ``(0, 0)``'s centre.
        shape: ``(nx, nz)`` cells.
        is_free: ``(x, z) -> bool``: can the agent stand there.
        can_cross: ``(x0, z0, x1, z1) -> bool``: is the straight move between two free cells open
            (no wall in between).
        cell_size: metres per cell.
    """

    def __init__(
        self,
        origin: tuple[float, float],
        shape: tuple[int, int],
        is_free: Callable[[float, float], bool],
        can_cross: Callable[[float, float, float, float], bool],
        cell_size: float = 1.0,
    ) -> None:
        self.origin = origin
        self.shape = shape
        self.cell_size = cell_size
        self.free = np.zeros(shape, dtype=bool)
        for i in range(shape[0]):
            for j in range(shape[1]):
                self.free[i, j] = is_free(*self.world(i, j))
        self._edges: dict[Cell, list[Cell]] = {}
        for i, j in zip(*np.nonzero(self.free), strict=True):
            cell = (int(i), int(j))
            self._edges[cell] = [
                other
                for other in (self._step(cell, d) for d in NEIGHBOURS)
                if self.is_free_cell(other) and can_cross(*self.world(*cell), *self.world(*other))
            ]

    def world(self, i: int, j: int) -> tuple[float, float]:
        """World ``(x, z)`` of a cell centre."""
        return self.origin[0] + i * self.cell_size, self.origin[1] + j * self.cell_size

    def cell(self, x: float, z: float) -> Cell:
        """The cell whose centre is nearest to world ``(x, z)``."""
        return round((x - self.origin[0]) / self.cell_size), round((z - self.origin[1]) / self.cell_size)

    def is_free_cell(self, cell: Cell) -> bool:
        i, j = cell
        return 0 <= i < self.shape[0] and 0 <= j < self.shape[1] and bool(self.free[i, j])

    def free_cells(self) -> list[Cell]:
        return sorted(self._edges)

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Free cells one legal move away."""
        return self._edges.get(cell, [])

    def can_move(self, cell: Cell, heading: int) -> bool:
        return self._step(cell, HEADING_STEPS[heading]) in self.neighbours(cell)

    def forward(self, cell: Cell, heading: int) -> Cell:
        """Where moving forward leads (the same cell when blocked)."""
        ahead = self._step(cell, HEADING_STEPS[heading])
        return ahead if ahead in self.neighbours(cell) else cell

    def distances(self, sources: dict[Cell, float] | Iterable[Cell]) -> dict[Cell, float]:
        """Geodesic distance (metres) from the nearest source to every reachable cell.

        ``sources`` may carry starting costs (``{cell: cost}``), which chains legs of a multi-goal
        route: the next leg starts from the previous leg's costs.
        """
        start = dict(sources) if isinstance(sources, dict) else {c: 0.0 for c in sources}
        # Unit edge weights but uneven starting costs: label-correcting search (re-queue on improvement).
        best = {c: v for c, v in start.items() if self.is_free_cell(c)}
        frontier = sorted(best, key=best.__getitem__)
        queue = deque(frontier)
        while queue:
            cell = queue.popleft()
            for other in self.neighbours(cell):
                cost = best[cell] + self.cell_size
                if cost < best.get(other, np.inf):
                    best[other] = cost
                    queue.append(other)
        return best

    def viewpoints(self, target: Cell, radius: float) -> list[Cell]:
        """Free cells within ``radius`` metres (Euclidean, centre to centre) of a target cell."""
        tx, tz = self.world(*target)
        return [c for c in self.free_cells() if np.hypot(self.world(*c)[0] - tx, self.world(*c)[1] - tz) <= radius]

    @staticmethod
    def _step(cell: Cell, delta: Cell) -> Cell:
        return cell[0] + delta[0], cell[1] + delta[1]


class ExpertPlanner:
    """Optimal forward/turn actions towards a set of goal states on a ``FloorGrid``.

    Plans are shortest in metres first (so the expert's SPL is 1 where no detour is needed) and
    use the fewest turns among those: a move costs ``MOVE_COST``, a turn 1. ``cost`` is a
    Dijkstra search over (cell, heading) states backwards from the goals; the expert takes an
    action that lowers it, preferring forward, then left, then right (deterministic).
    """

    MOVE_COST = 1000

    def __init__(
        self, grid: FloorGrid, goal_cells: dict[Cell, float] | Iterable[Cell], goal_heading: int | None = None
    ) -> None:
        self.grid = grid
        # Goal cells may carry the metres still to walk after them (later goals of a chained route).
        after = dict(goal_cells) if isinstance(goal_cells, dict) else {c: 0.0 for c in goal_cells}
        headings = (goal_heading,) if goal_heading is not None else range(4)
        self.cost: dict[State, int] = {}
        self.stop_cost: dict[State, int] = {}
        heap: list[tuple[int, State]] = []
        for c, metres in after.items():
            for h in headings:
                if grid.is_free_cell(c):
                    state, cost = (c[0], c[1], h), round(metres / grid.cell_size) * self.MOVE_COST
                    self.cost[state] = self.stop_cost[state] = cost
                    heap.append((cost, state))
        heapq.heapify(heap)
        while heap:
            cost, state = heapq.heappop(heap)
            if cost > self.cost[state]:
                continue
            for prev, edge in self._predecessors(state):
                if cost + edge < self.cost.get(prev, math.inf):
                    self.cost[prev] = cost + edge
                    heapq.heappush(heap, (cost + edge, prev))

    def _predecessors(self, state: State) -> list[tuple[State, int]]:
        i, j, h = state
        prev = [((i, j, (h - 1) % 4), 1), ((i, j, (h + 1) % 4), 1)]  # a left turn from h-1, a right from h+1
        di, dj = HEADING_STEPS[h]
        back = (i - di, j - dj)
        if self.grid.is_free_cell(back) and self.grid.can_move(back, h):
            prev.append(((back[0], back[1], h), self.MOVE_COST))
        return prev

    def action(self, cell: Cell, heading: int) -> str:
        """``"stop"`` at a goal state, else the first action of an optimal plan."""
        here = self.cost.get((cell[0], cell[1], heading))
        if here is None:
            raise RuntimeError(f"no path from cell {cell} to the goal")
        if self.stop_cost.get((cell[0], cell[1], heading)) == here:
            return "stop"
        ahead = self.grid.forward(cell, heading)
        options = (
            ("move_forward", (*ahead, heading), self.MOVE_COST),
            ("turn_left", (cell[0], cell[1], (heading + 1) % 4), 1),
            ("turn_right", (cell[0], cell[1], (heading - 1) % 4), 1),
        )
        for name, nxt, edge in options:
            blocked = name == "move_forward" and nxt[:2] == cell
            if not blocked and self.cost.get(nxt, math.inf) + edge == here:
                return name
        raise RuntimeError(f"planner has no improving action at {cell}, heading {heading}")
