"""A procedural street: road, pavements, facades, fences and billboard objects in world metres.

World axes: X to the right of the road centre, Y up, Z forward along the road.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST = range(11)


def _color(rng: np.random.Generator, base: tuple[int, int, int], spread: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in base)


def _any_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(20, 236, size=3))


@dataclass
class Facade:
    """A vertical plane at X = x from z0 to z1, height h; kind is BUILDING or FENCE."""

    kind: int
    x: float
    z0: float
    z1: float
    h: float
    color: tuple[int, int, int]
    detail: tuple[int, int, int]
    depth: float = 8.0  # how far the block reaches away from the road (its visible front face)


@dataclass
class Thing:
    """A billboard object standing at (x, z), facing the camera; moves at ``speed`` m/s along Z."""

    kind: int
    x: float
    z: float
    w: float
    h: float
    colors: list[tuple[int, int, int]]
    speed: float = 0.0
    variant: int = 0


@dataclass
class World:
    """Everything that does not depend on the camera position."""

    road_half: float
    pavement: float
    length: float
    sky_top: tuple[int, int, int]
    sky_bottom: tuple[int, int, int]
    road_color: tuple[int, int, int]
    pave_color: tuple[int, int, int]
    verge_color: tuple[int, int, int]
    line_color: tuple[int, int, int]
    facades: list[Facade] = field(default_factory=list)
    things: list[Thing] = field(default_factory=list)
    clouds: list[tuple[float, float, float, float]] = field(default_factory=list)
    shadows: list[tuple[float, float, float, float]] = field(default_factory=list)  # x0, x1, z0, z1


def make_world(rng: np.random.Generator, length: float = 120.0) -> World:
    """Generate a random street ``length`` metres long."""
    gray = int(rng.integers(60, 130))
    world = World(
        road_half=float(rng.uniform(3.0, 7.0)),
        pavement=float(rng.uniform(1.5, 4.0)),
        length=length,
        sky_top=_color(rng, (170, 120, 70), 50),  # BGR throughout: OpenCV draws in BGR
        sky_bottom=_color(rng, (235, 215, 200), 30),
        road_color=_color(rng, (gray, gray, gray), 12),
        pave_color=_color(rng, (int(rng.integers(110, 190)),) * 3, 30),
        verge_color=_color(rng, (50, 120, 70), 30),
        line_color=_color(rng, (235, 235, 235), 20) if rng.random() < 0.8 else (40, 200, 230),
    )
    for _ in range(int(rng.integers(0, 6))):
        world.clouds.append((rng.uniform(0, 1), rng.uniform(0, 0.8), rng.uniform(0.05, 0.25), rng.uniform(0.02, 0.08)))
    for _ in range(int(rng.integers(0, max(1, int(length / 15))))):
        x0, z0 = float(rng.uniform(-world.road_half, world.road_half)), float(rng.uniform(0, length))
        world.shadows.append((x0, min(x0 + rng.uniform(1, 5), world.road_half), z0, z0 + rng.uniform(1, 8)))
    edge = world.road_half + world.pavement
    for side in (-1, 1):
        _street_side(rng, world, side, edge)
    _road_users(rng, world)
    return world


def _street_side(rng: np.random.Generator, world: World, side: int, edge: float) -> None:
    z = float(rng.uniform(-10, 5))
    setback = float(rng.uniform(0.5, 6.0))
    while z < world.length:
        span = float(rng.uniform(8, 30))
        roll = rng.random()
        if roll < 0.65:  # a building block
            world.facades.append(Facade(BUILDING, side * (edge + setback), z, z + span,
                                        float(rng.uniform(5, 25)), _any_color(rng), _any_color(rng),
                                        depth=float(rng.uniform(6, 15))))
        elif roll < 0.8:  # a fence with open ground behind it
            world.facades.append(Facade(FENCE, side * (edge + 0.2), z, z + span, float(rng.uniform(0.8, 2.0)),
                                        _color(rng, (90, 100, 110), 50), _color(rng, (60, 70, 80), 30)))
        z += span + float(rng.uniform(0, 6))
    n_trees = int(rng.integers(0, max(1, int(world.length / 10))))
    for _ in range(n_trees):
        world.things.append(Thing(TREE, side * (edge + rng.uniform(0.3, setback + 0.5)), rng.uniform(0, world.length),
                                  rng.uniform(2.5, 7), rng.uniform(4, 11),
                                  [_color(rng, (40, 110, 60), 40), _color(rng, (40, 60, 90), 20)],
                                  variant=int(rng.integers(0, 3))))
    for _ in range(int(rng.integers(1, max(2, int(world.length / 15))))):
        signs = rng.random() < 0.5
        world.things.append(Thing(POLE, side * (world.road_half + rng.uniform(0.2, 0.6)), rng.uniform(0, world.length),
                                  rng.uniform(0.12, 0.3), rng.uniform(3.5, 8), [_color(rng, (120, 120, 120), 60),
                                  _any_color(rng)], variant=int(rng.integers(1, 4)) if signs else 0))
    for _ in range(int(rng.integers(0, max(1, int(world.length / 12))))):
        world.things.append(Thing(PEDESTRIAN, side * (world.road_half + rng.uniform(0.4, world.pavement)),
                                  rng.uniform(0, world.length), rng.uniform(0.45, 0.7), rng.uniform(1.5, 1.95),
                                  [_any_color(rng), _any_color(rng), _color(rng, (120, 150, 190), 60)],
                                  speed=float(rng.uniform(-1.5, 1.5))))


def _road_users(rng: np.random.Generator, world: World) -> None:
    lanes = [-world.road_half / 2, world.road_half / 2]
    for _ in range(int(rng.integers(0, max(1, int(world.length / 12))))):
        lane = lanes[int(rng.integers(0, 2))]
        oncoming = lane < 0
        parked = rng.random() < 0.3
        x = (np.sign(lane) * (world.road_half - 1.1)) if parked else lane + rng.uniform(-0.4, 0.4)
        speed = 0.0 if parked else float(rng.uniform(-14, -6) if oncoming else rng.uniform(4, 12))
        world.things.append(Thing(CAR, float(x), rng.uniform(4, world.length), rng.uniform(1.7, 2.1),
                                  rng.uniform(1.35, 1.9), [_any_color(rng), _color(rng, (40, 35, 30), 20)],
                                  speed=speed, variant=int(rng.integers(0, 2))))
    for _ in range(int(rng.integers(0, 3))):
        x = np.sign(rng.uniform(-1, 1)) * (world.road_half - 0.6)
        world.things.append(Thing(BICYCLIST, float(x), rng.uniform(4, world.length), 1.3, rng.uniform(1.6, 1.9),
                                  [_any_color(rng), _any_color(rng), (30, 30, 30)], speed=float(rng.uniform(2, 6))))
