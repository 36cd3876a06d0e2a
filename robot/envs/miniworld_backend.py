"""MiniWorld as a ``NavEnv`` backend: headless rendering, grid motion, goals, Habitat-style sensors.

MiniWorld (PyPI ``miniworld``) draws the rooms and objects and answers collision queries; this
module moves the agent on a 1-metre grid (forward one cell, 90-degree turns) so that episodes are
exactly repeatable and the expert's plans are optimal. Rendering is headless: pyglet is switched
to its EGL path before MiniWorld is imported (Debian ``libegl1`` + ``libgl1-mesa-dri``; no X server
needed). Set ``VIDMEM_PYGLET_WINDOWED=1`` to keep pyglet's default (e.g. under ``xvfb-run``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.envs.base import ACTIONS, STOP, EnvError, Episode, Goal, observation_spec_of, wrap_angle
from robot.envs.grid import Cell, ExpertPlanner, FloorGrid


def import_miniworld() -> Any:
    """Imports ``miniworld`` set up for headless rendering; a one-line error when it cannot render."""
    _load_triton_first()
    import pyglet

    if os.environ.get("VIDMEM_PYGLET_WINDOWED") != "1":
        pyglet.options["headless"] = True
    try:
        import miniworld
        import miniworld.miniworld  # noqa: F401  (the OpenGL context is made on first env)
    except ImportError as exc:
        raise EnvError(f"MiniWorld is not usable here ({exc}); run scripts/setup.sh (pip miniworld, libegl1)") from exc
    return miniworld


def _load_triton_first() -> None:
    """Loads triton's native library before Mesa's, if triton is installed.

    Mesa's software GL (llvmpipe) and triton (torch's kernel compiler, which ``torch.optim`` imports)
    each bring their own LLVM; loading triton's after Mesa's has run kills the process with SIGSEGV,
    while the other order renders identical frames. Training and evaluation need both.
    """
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


@dataclass(frozen=True)
class MiniWorldTaskConfig:
    """Options shared by the MiniWorld tasks.

    Attributes:
        width, height: rgb size in pixels.
        depth: also return ``depth`` float32 [H, W, 1] (metres).
        max_steps: the episode ends after this many actions.
        success_distance: metres; STOP counts when the geodesic distance to the goal is below it.
    """

    width: int = 80
    height: int = 60
    depth: bool = True
    max_steps: int = 40
    success_distance: float = 0.2

    def __post_init__(self) -> None:
        if not (16 <= self.width <= 512 and 16 <= self.height <= 512):
            raise ValueError(f"render size must be 16..512 pixels a side, got {self.width}x{self.height}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.success_distance < 0:
            raise ValueError(f"success_distance must be >= 0, got {self.success_distance}")


class MiniWorldNavEnv:
    """Base of the MiniWorld tasks: subclasses build the world and say what the goals are.

    Subclass hooks: ``_make_world(miniworld)`` (a ``MiniWorldEnv`` whose ``_gen_world`` reads
    ``self.layout``), ``_sample_layout(rng)``, ``_goals()``, ``_goal_vector()``, and optionally
    ``_expert_target()`` (defaults to the current goal's viewpoints).
    """

    name = "miniworld"
    goal_size = 1

    def __init__(self, config: MiniWorldTaskConfig) -> None:
        self.config = config
        self.success_distance = config.success_distance
        self.max_steps = config.max_steps
        self.next_seed = 0
        self.episode: Episode | None = None
        # MiniWorld prints a note when the GL driver has fewer multisample buffers than it asks for
        # (Mesa's software renderer has 4); stdout belongs to --json output, so the note is dropped.
        with contextlib.redirect_stdout(io.StringIO()):
            self.world = self._make_world(import_miniworld())
        self._planners: dict[Any, ExpertPlanner] = {}
        self.trajectory: list[tuple[float, float, float]] = []
        self.steps = 0

    # -- subclass hooks -------------------------------------------------------------------------
    def _make_world(self, miniworld: Any) -> Any:
        raise NotImplementedError

    def _sample_layout(self, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def _goal_entities(self) -> list[tuple[Any, str, int]]:
        """``(entity, name, object_id)`` for each goal, in order."""
        raise NotImplementedError

    def _goal_vector(self) -> np.ndarray:
        return np.zeros(self.goal_size, np.float32)

    def _expert_target(self) -> tuple[Any, dict[Cell, float] | list[Cell], int | None]:
        """``(cache key, goal cells, goal heading or None)`` the expert heads for now."""
        k = min(self.goal_index, len(self._goal_cells) - 1)
        later = self._remaining[k + 1] if k + 1 < len(self._remaining) else {}
        # Stopping places weighted by the route still to walk after them: optimal over all legs.
        return (
            ("goal", k),
            {v: later.get(v, 0.0) for v in self._viewpoints[k] if k + 1 == len(self._remaining) or v in later},
            None,
        )

    def _on_step(self) -> None:
        """Called after each action (tasks track what the agent has seen)."""

    # -- NavEnv -----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        if seed is None:
            seed = self.next_seed
            self.next_seed += 1
        self.layout = self._sample_layout(np.random.default_rng(seed))
        self.world.layout = self.layout
        self.world.reset(seed=int(seed))
        self._build_grid()
        self.cell = self.grid.cell(self.world.agent.pos[0], self.world.agent.pos[2])
        self.heading = int(self.layout["start_heading"])
        self._place_agent()
        goals = self._goal_entities()
        self._goal_cells = [self.grid.cell(e.pos[0], e.pos[2]) for e, _, _ in goals]
        self._viewpoints = [self._goal_viewpoints(c) for c in self._goal_cells]
        self._remaining = self._remaining_fields()
        self._planners = {}
        self.goal_index, self.steps, self.done = 0, 0, False
        self.start_cell, self.start_heading = self.cell, self.heading
        self.episode = Episode(
            episode_id=f"{self.name}-{seed}",
            seed=int(seed),
            start_position=tuple(float(v) for v in self.world.agent.pos),
            start_heading=self.heading * math.pi / 2,
            goals=tuple(Goal(tuple(float(v) for v in e.pos), name, oid) for e, name, oid in goals),
            info={k: v for k, v in self.layout.items() if isinstance(v, str | int | float)},
        )
        self.trajectory = [self._pose()]
        if self.episode_shortest_path() == math.inf:
            raise RuntimeError(f"episode {self.episode.episode_id} has an unreachable goal")
        self._on_step()
        return self._observe()

    def step(self, action: int) -> tuple[dict[str, np.ndarray], bool]:
        if self.episode is None or self.done:
            raise EnvError("step() after the episode ended; call reset()")
        action = int(action)
        if not 0 <= action < len(ACTIONS):
            raise EnvError(f"action must be an id in 0..{len(ACTIONS) - 1} {ACTIONS}, got {action}")
        self.steps += 1
        if action == STOP:
            if self.geodesic_distance_to_current_goal() < self.success_distance:  # strict, as Habitat
                self.goal_index += 1
                self.done = self.goal_index >= len(self._goal_cells)
            else:
                self.done = True  # a STOP away from the goal ends the episode (Habitat, MultiON's FOUND)
        elif ACTIONS[action] == "move_forward":
            self.cell = self.grid.forward(self.cell, self.heading)
        else:
            self.heading = (self.heading + (1 if ACTIONS[action] == "turn_left" else -1)) % 4
        self._place_agent()
        self.trajectory.append(self._pose())
        self._on_step()
        if self.steps >= self.max_steps:
            self.done = True
        return self._observe(), self.done

    def expert_action(self) -> int:
        if self.done:
            raise EnvError("expert_action() after the episode ended; call reset()")
        key, cells, heading = self._expert_target()
        if key not in self._planners:
            self._planners[key] = ExpertPlanner(self.grid, cells, heading)
        name = self._planners[key].action(self.cell, self.heading)
        if name == "stop" and key[0] != "goal":  # _on_step moves the target on when a waypoint is reached
            raise RuntimeError(f"expert stuck at waypoint {key} in episode {self.episode.episode_id}")
        return ACTIONS.index(name)

    def agent_position(self) -> np.ndarray:
        return np.asarray(self.world.agent.pos, dtype=np.float64).copy()

    def agent_heading(self) -> float:
        return self.heading * math.pi / 2

    def geodesic_distance_to_current_goal(self) -> float:
        if self.goal_index >= len(self._goal_cells):
            return 0.0
        field = self.grid.distances(self._viewpoints[self.goal_index])
        return field.get(self.cell, math.inf)

    def geodesic_distance_to_goal(self) -> float:
        if self.goal_index >= len(self._goal_cells):
            return 0.0
        return self._remaining[self.goal_index].get(self.cell, math.inf)

    def episode_shortest_path(self) -> float:
        """Geodesic length of the best route from the start through every goal in order (SPL's ``l``)."""
        return self._remaining[0].get(self.start_cell, math.inf)

    def goals_reached(self) -> int:
        return self.goal_index

    def observation_spec(self) -> dict[str, tuple[tuple[int, ...], str]]:
        if self.episode is None:
            self.reset(self.next_seed)
            self.next_seed += 1
        return observation_spec_of(self._observe())

    def close(self) -> None:
        self.world.close()

    def top_down(self) -> dict[str, Any]:
        """The current episode's map for plots.

        Returns:
            ``{"free": bool [nx, nz] (cells the agent may stand on), "origin": (x, z) of cell (0, 0),
            "objects": [(x, z, colour name)], "walls": float [N, 2, 2] wall segments as (x, z) pairs}``.
        """
        objects = []
        for ent in self.world.entities:
            if ent is self.world.agent:
                continue
            colour = getattr(ent, "color_name", None) or getattr(ent, "color", None) or "grey"
            objects.append((float(ent.pos[0]), float(ent.pos[2]), str(colour)))
        walls = np.asarray(self.world.wall_segs, dtype=np.float64)[:, :, [0, 2]]
        return {"free": self.grid.free.copy(), "origin": self.grid.origin, "objects": objects, "walls": walls}

    # -- internals --------------------------------------------------------------------------------
    def _build_grid(self) -> None:
        w = self.world
        radius = w.agent.radius

        def is_free(x: float, z: float) -> bool:
            return not w.intersect(w.agent, np.array([x, 0.0, z]), radius)

        def can_cross(x0: float, z0: float, x1: float, z1: float) -> bool:
            # The destination was checked; a wall between two free cells shows at the midpoint.
            mid = np.array([(x0 + x1) / 2, 0.0, (z0 + z1) / 2])
            return not w.intersect(w.agent, mid, radius)

        x0, z0 = math.ceil(w.min_x), math.ceil(w.min_z)
        shape = (math.floor(w.max_x) - x0 + 1, math.floor(w.max_z) - z0 + 1)
        self.grid = FloorGrid((x0, z0), shape, is_free, can_cross)

    def _goal_viewpoints(self, cell: Cell) -> list[Cell]:
        # Objects fill their cell; the agent stops on a free neighbour (ObjectNav's view points).
        return [c for c in self.grid.viewpoints(cell, 1.0 + self.success_distance) if c != cell]

    def _remaining_fields(self) -> list[dict[Cell, float]]:
        fields: list[dict[Cell, float]] = [{}] * len(self._viewpoints)
        later: dict[Cell, float] | None = None
        for k in range(len(self._viewpoints) - 1, -1, -1):
            sources = {v: (0.0 if later is None else later.get(v, math.inf)) for v in self._viewpoints[k]}
            fields[k] = self.grid.distances({v: d for v, d in sources.items() if d < math.inf})
            later = fields[k]
        return fields

    def _place_agent(self) -> None:
        x, z = self.grid.world(*self.cell)
        self.world.agent.pos = np.array([x, 0.0, z])
        self.world.agent.dir = self.heading * math.pi / 2

    def _pose(self) -> tuple[float, float, float]:
        x, z = self.grid.world(*self.cell)
        return float(x), float(z), self.heading * math.pi / 2

    def _observe(self) -> dict[str, np.ndarray]:
        rgb = self.world.render_obs()
        obs = {"rgb": np.ascontiguousarray(rgb, dtype=np.uint8)}
        if self.config.depth:
            # The frame buffer still holds this render: read its depth without drawing again.
            obs["depth"] = self.world.obs_fb.get_depth_map(0.04, 100.0).astype(np.float32)
        obs["gps_compass"] = self._gps_compass()
        obs["goal"] = self._goal_vector()
        return obs

    def _gps_compass(self) -> np.ndarray:
        x, z = self.grid.world(*self.cell)
        sx, sz = self.grid.world(*self.start_cell)
        theta0 = self.start_heading * math.pi / 2
        dx, dz = x - sx, z - sz
        forward = dx * math.cos(theta0) - dz * math.sin(theta0)
        right = dx * math.sin(theta0) + dz * math.cos(theta0)
        compass = wrap_angle((self.heading - self.start_heading) * math.pi / 2)
        return np.array([forward, right, compass], dtype=np.float32)
