"""The memory-dependent MiniWorld tasks: ``tmaze``, ``sign`` and ``multiobject``.

Each needs memory: the information that decides where to go is seen early and is gone when the
decision is made.

- ``tmaze`` (MiniWorld's TMaze): a coloured cue box stands behind the start (green: the goal is
  the -z arm, blue: the +z arm); both arms end in identical red boxes. A memoryless agent can only
  guess an arm (50%).
- ``sign`` (MiniWorld's Sign, shrunk): the agent starts facing a panel that shows a colour; the goal
  vector names a shape (box or key); it must stop at the object of that colour and shape among
  six, two rooms away, long after the panel left its view. ``sign_far`` starts in the top room as
  MiniWorld's Sign does, so the agent must first walk to the panel; SPL's shortest path is start
  -> object, so there even the expert, which must detour to the panel, scores SPL below 1.
- ``multiobject`` (MultiON spirit, defined here): three coloured boxes (red, green, blue) stand in
  a row at the far end of a room, all in view from the start. Find object A (goal = one-hot
  colour), then B, then return to the object found first (goal = a "return" flag, no colour): the
  agent must remember which box it found first. STOP within the success distance of the current
  goal marks it found; a STOP elsewhere ends the episode. ``multiobject_shuffled`` draws the
  boxes' order per episode, so the agent must also bind the goal colour to what it sees and
  remember where B stood once it is out of view (the BC policies here do not learn that binding
  yet: see the README's figures).

Goal vectors: ``tmaze`` float32 [1] (always 0), ``sign`` [2] (one-hot shape), ``multiobject`` [4]
(one-hot colour of the current target, or ``[0, 0, 0, 1]`` for "return to the first").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.envs.base import ENVS
from robot.envs.grid import Cell
from robot.envs.miniworld_backend import MiniWorldNavEnv, MiniWorldTaskConfig


def _worlds() -> Any:
    from robot.envs import miniworld_worlds

    return miniworld_worlds


def _world_kwargs(config: MiniWorldTaskConfig) -> dict[str, int]:
    return {"obs_width": config.width, "obs_height": config.height, "window_width": 64, "window_height": 64}


@dataclass(frozen=True)
class TMazeConfig(MiniWorldTaskConfig):
    """``tmaze`` options (see ``MiniWorldTaskConfig``)."""

    max_steps: int = 30


class CueTMazeEnv(MiniWorldNavEnv):
    """T-maze whose goal arm is shown only by a cue behind the start."""

    name = "tmaze"
    goal_size = 1
    CUES = (("green", -1), ("blue", 1))

    def _make_world(self, miniworld: Any) -> Any:
        return _worlds().CueTMaze(**_world_kwargs(self.config))

    def _sample_layout(self, rng: np.random.Generator) -> dict[str, Any]:
        cue, arm = self.CUES[int(rng.integers(2))]
        start = (int(rng.integers(2, 4)), int(rng.integers(-1, 2)))
        return {"cue": cue, "arm": arm, "start": start, "start_heading": 2}

    def _goal_entities(self) -> list[tuple[Any, str, int]]:
        side = "-z" if self.layout["arm"] < 0 else "+z"
        return [(self.world.box, f"red box, {side} arm", 0)]


@dataclass(frozen=True)
class SignConfig(MiniWorldTaskConfig):
    """``sign`` options (see ``MiniWorldTaskConfig``).

    Attributes:
        start_far: start in the top room, as MiniWorld's Sign does, so the agent must first walk to
            the panel (``sign_far``); when False it starts in front of the panel, facing it.
    """

    max_steps: int = 40
    start_far: bool = False


@dataclass(frozen=True)
class FarSignConfig(SignConfig):
    """``sign_far``: MiniWorld's start in the top room, the panel two rooms away."""

    max_steps: int = 60
    start_far: bool = True


class PanelSignEnv(MiniWorldNavEnv):
    """Read the coloured panel, then stop at the object of that colour and the goal's shape."""

    name = "sign"
    goal_size = 2
    SIGN_VIEW = ((5, 4), 0)  # cell and heading from which the panel is read

    def _make_world(self, miniworld: Any) -> Any:
        return _worlds().PanelSign(**_world_kwargs(self.config))

    NEAR_STARTS = ((4, 4), (5, 4), (4, 5))  # facing +x, the panel is in view from each

    def _sample_layout(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.config.start_far:
            starts, heading = [(x, z) for x in range(1, 6) for z in (1, 2)], int(rng.integers(4))
        else:
            starts, heading = self.NEAR_STARTS, 0
        return {
            "color": int(rng.integers(3)),
            "shape": int(rng.integers(2)),
            "start": starts[int(rng.integers(len(starts)))],
            "start_heading": heading,
        }

    def _goal_entities(self) -> list[tuple[Any, str, int]]:
        colour = self.world.COLORS[self.layout["color"]]
        shape = ("box", "key")[self.layout["shape"]]
        return [(self.world.target, f"{colour} {shape}", self.layout["shape"] * 3 + self.layout["color"])]

    def _goal_vector(self) -> np.ndarray:
        goal = np.zeros(2, np.float32)
        goal[self.layout["shape"]] = 1.0
        return goal

    def _on_step(self) -> None:
        if self.steps == 0:
            self.sign_read = not self.config.start_far  # near starts face the panel
        if (self.cell, self.heading) == self.SIGN_VIEW:
            self.sign_read = True

    def _expert_target(self) -> tuple[Any, list[Cell], int | None]:
        if not self.sign_read:
            cell, heading = self.SIGN_VIEW
            return ("sign",), [cell], heading
        return super()._expert_target()


@dataclass(frozen=True)
class MultiObjectConfig(MiniWorldTaskConfig):
    """``multiobject`` options (see ``MiniWorldTaskConfig``).

    Attributes:
        shuffle_slots: draw the boxes' order per episode (``multiobject_shuffled``); when False each
            colour keeps its place (red, green, blue from -z to +z) and only the sequence varies.
    """

    max_steps: int = 40
    shuffle_slots: bool = False


@dataclass(frozen=True)
class ShuffledMultiObjectConfig(MultiObjectConfig):
    """``multiobject_shuffled``: the boxes' order is drawn per episode."""

    shuffle_slots: bool = True


class MultiObjectEnv(MiniWorldNavEnv):
    """Find A, find B, return to A: three coloured boxes, the last goal names no colour."""

    name = "multiobject"
    goal_size = 4

    def _make_world(self, miniworld: Any) -> Any:
        return _worlds().MultiObjectRoom(**_world_kwargs(self.config))

    def _sample_layout(self, rng: np.random.Generator) -> dict[str, Any]:
        slots = _worlds().MultiObjectRoom.SLOTS
        order = rng.permutation(len(slots)) if self.config.shuffle_slots else np.arange(len(slots))
        first, second = (int(v) for v in rng.choice(len(slots), size=2, replace=False))
        return {
            "objects": tuple(slots[i] for i in order),
            "start": (0, int(rng.integers(1, 4))),
            "start_heading": 0,
            "first": first,
            "second": second,
        }

    def _goal_entities(self) -> list[tuple[Any, str, int]]:
        colours = self.world.COLORS
        a, b = self.layout["first"], self.layout["second"]
        objects = self.world.objects
        return [
            (objects[a], f"{colours[a]} box", a),
            (objects[b], f"{colours[b]} box", b),
            (objects[a], f"{colours[a]} box (return)", a),
        ]

    def _goal_vector(self) -> np.ndarray:
        goal = np.zeros(4, np.float32)
        if self.goal_index == 0:
            goal[self.layout["first"]] = 1.0
        elif self.goal_index == 1:
            goal[self.layout["second"]] = 1.0
        else:
            goal[3] = 1.0
        return goal


@ENVS.register("tmaze", TMazeConfig)
def _build_tmaze(config: TMazeConfig) -> CueTMazeEnv:
    return CueTMazeEnv(config)


@ENVS.register("sign", SignConfig)
@ENVS.register("sign_far", FarSignConfig)
def _build_sign(config: SignConfig) -> PanelSignEnv:
    return PanelSignEnv(config)


@ENVS.register("multiobject", MultiObjectConfig)
@ENVS.register("multiobject_shuffled", ShuffledMultiObjectConfig)
def _build_multiobject(config: MultiObjectConfig) -> MultiObjectEnv:
    return MultiObjectEnv(config)
