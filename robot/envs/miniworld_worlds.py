"""MiniWorld worlds of the memory tasks, laid out on a 1-metre grid (walls on half-metres).

Imported only through ``miniworld_backend.import_miniworld`` (headless set-up first). Each world
reads ``self.layout`` (a dict chosen by the task from the episode seed) in ``_gen_world``.
"""

from __future__ import annotations

import math

from miniworld.entity import Box, MeshEnt
from miniworld.envs.sign import Sign
from miniworld.envs.tmaze import TMaze
from miniworld.miniworld import MiniWorldEnv
from miniworld.params import DEFAULT_PARAMS

OBJECT_SIZE = 0.8  # radius 0.57: a box fills its cell, the neighbouring cells stay free


class CueTMaze(TMaze):
    """MiniWorld's T-maze with identical boxes at both arm ends and a coloured cue behind the start.

    Layout keys: ``cue`` (colour name), ``arm`` (-1 = the -z arm, +1 = the +z arm), ``start``
    (cell ``(x, z)``), ``start_heading`` (0..3).
    """

    layout = {"cue": "green", "arm": -1, "start": (2, 0), "start_heading": 2}

    def __init__(self, **kwargs) -> None:
        super().__init__(params=DEFAULT_PARAMS.no_random(), **kwargs)

    def _gen_world(self) -> None:
        corridor = self.add_rect_room(min_x=-0.5, max_x=5.5, min_z=-1.5, max_z=1.5)
        junction = self.add_rect_room(min_x=5.5, max_x=8.5, min_z=-5.5, max_z=5.5)
        self.connect_rooms(corridor, junction, min_z=-1.5, max_z=1.5)
        self.place_entity(Box(color=self.layout["cue"], size=OBJECT_SIZE), pos=(0, 0, 0), dir=0)
        self.arm_boxes = [self.place_entity(Box(color="red", size=OBJECT_SIZE), pos=(7, 0, z), dir=0) for z in (-5, 5)]
        self.box = self.arm_boxes[0 if self.layout["arm"] < 0 else 1]
        x, z = self.layout["start"]
        self.place_agent(pos=(x, 0, z), dir=self.layout["start_heading"] * math.pi / 2)


class PanelSign(Sign):
    """MiniWorld's Sign task, shrunk to a U of three rooms, with the sign drawn as a coloured panel.

    The original writes "BLUE"/"RED"/"GREEN" as text, unreadable at 60x80 pixels; a panel of the
    named colour keeps the task (read the sign far from the objects, then fetch the object of that
    colour and of the shape in the goal vector). Layout keys: ``color`` (0 blue, 1 red, 2 green),
    ``shape`` (0 box, 1 key), ``start``, ``start_heading``.
    """

    layout = {"color": 0, "shape": 0, "start": (3, 1), "start_heading": 0}
    COLORS = ("blue", "red", "green")
    # (shape, colour) -> cell; boxes in the top room, keys spread over the rooms.
    OBJECT_CELLS = {
        (0, 0): (0, 0),
        (0, 1): (6, 0),
        (0, 2): (6, 3),
        (1, 0): (3, 0),
        (1, 1): (0, 3),
        (1, 2): (0, 7),
    }
    SIGN_CELL = (6, 4)  # the panel stands against the east wall; it is read from (5, 4) facing +x

    def __init__(self, **kwargs) -> None:
        super().__init__(size=7, max_episode_steps=10_000, **kwargs)

    def _gen_world(self) -> None:
        top = self.add_rect_room(min_x=-0.5, max_x=6.5, min_z=-0.5, max_z=3.5)
        left = self.add_rect_room(min_x=-0.5, max_x=3.5, min_z=3.5, max_z=7.5)
        right = self.add_rect_room(min_x=3.5, max_x=6.5, min_z=3.5, max_z=7.5)
        self.connect_rooms(top, left, min_x=-0.5, max_x=3.5)
        self.connect_rooms(left, right, min_z=5.5, max_z=7.5)
        self.objects = {}
        for (shape, color), (x, z) in self.OBJECT_CELLS.items():
            ent = Box(color=self.COLORS[color], size=OBJECT_SIZE) if shape == 0 else _key(self.COLORS[color])
            self.objects[shape, color] = self.place_entity(ent, pos=(x, 0, z), dir=0)
        sx, sz = self.SIGN_CELL
        panel = Box(color=self.COLORS[self.layout["color"]], size=[0.2, 1.8, 0.9])
        self.place_entity(panel, pos=(sx + 0.35, 0, sz), dir=0)
        self.target = self.objects[self.layout["shape"], self.layout["color"]]
        x, z = self.layout["start"]
        self.place_agent(pos=(x, 0, z), dir=self.layout["start_heading"] * math.pi / 2)

    def reset(self, *, seed=None, options=None):
        # Skip Sign.reset's {"obs", "goal"} wrapping: the task builds its own observations.
        return MiniWorldEnv.reset(self, seed=seed, options=options)


def _key(color: str) -> MeshEnt:
    key = MeshEnt(mesh_name=f"key_{color}", height=0.6, static=True)
    # The mesh's bounding radius (0.74) would block the neighbouring cells; collide like a box.
    key.radius = Box("red", size=OBJECT_SIZE).radius
    key.color_name = color  # for plots
    return key


class MultiObjectRoom(MiniWorldEnv):
    """A room with three coloured boxes in a row at its far end (the MultiON-style task's world).

    Layout keys: ``objects`` (one cell per colour of ``COLORS``, a permutation of ``SLOTS``),
    ``start``, ``start_heading``.
    """

    COLORS = ("red", "green", "blue")
    SLOTS = ((4, 0), (4, 2), (4, 4))  # all three in view from every start, facing +x
    layout = {"objects": SLOTS, "start": (0, 2), "start_heading": 0}
    SIZE = (6, 5)  # cells along x and z

    def __init__(self, **kwargs) -> None:
        super().__init__(max_episode_steps=10_000, params=DEFAULT_PARAMS.no_random(), **kwargs)

    def _gen_world(self) -> None:
        nx, nz = self.SIZE
        self.add_rect_room(min_x=-0.5, max_x=nx - 0.5, min_z=-0.5, max_z=nz - 0.5)
        self.objects = [
            self.place_entity(Box(color=color, size=OBJECT_SIZE), pos=(x, 0, z), dir=0)
            for color, (x, z) in zip(self.COLORS, self.layout["objects"], strict=True)
        ]
        x, z = self.layout["start"]
        self.place_agent(pos=(x, 0, z), dir=self.layout["start_heading"] * math.pi / 2)
