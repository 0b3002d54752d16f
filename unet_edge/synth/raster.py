"""Pinhole projection of a World into a BGR frame and its exact class-id mask."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unet_edge.synth.world import (
    BICYCLIST,
    BUILDING,
    CAR,
    PAVEMENT,
    PEDESTRIAN,
    POLE,
    ROAD,
    SIGN,
    SKY,
    TREE,
    Facade,
    Thing,
    World,
)

NEAR = 1.0


@dataclass
class Camera:
    """Camera at lateral offset ``x``, distance ``z`` along the road, height ``h`` metres."""

    z: float
    x: float = 0.0
    h: float = 1.4
    hfov: float = 65.0
    horizon: float = 0.45  # horizon row as a fraction of the image height (pitch)


class Canvas:
    """Draws every primitive into the image and, with its class id, into the mask."""

    def __init__(self, height: int, width: int, cam: Camera) -> None:
        self.img = np.zeros((height, width, 3), np.uint8)
        self.mask = np.zeros((height, width), np.uint8)
        self.cam = cam
        self.f = width / 2 / np.tan(np.radians(cam.hfov / 2))
        self.cx, self.cy = width / 2, height * cam.horizon

    def project(self, x: float, y: float, z: float) -> tuple[int, int]:
        zc = max(z - self.cam.z, NEAR)
        u = self.cx + self.f * (x - self.cam.x) / zc
        v = self.cy + self.f * (self.cam.h - y) / zc
        return int(np.clip(u, -1e5, 1e5)), int(np.clip(v, -1e5, 1e5))

    def poly(self, pts: list[tuple[int, int]], color, cls: int | None) -> None:
        arr = np.array([pts], np.int32)
        cv2.fillPoly(self.img, arr, color)
        if cls is not None:
            cv2.fillPoly(self.mask, arr, cls)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color, cls: int | None) -> None:
        cv2.rectangle(self.img, (x0, y0), (x1, y1), color, -1)
        if cls is not None:
            cv2.rectangle(self.mask, (x0, y0), (x1, y1), cls, -1)

    def ellipse(self, c: tuple[int, int], axes: tuple[int, int], color, cls: int | None, thick: int = -1) -> None:
        cv2.ellipse(self.img, c, axes, 0, 0, 360, color, thick)
        if cls is not None:
            cv2.ellipse(self.mask, c, axes, 0, 0, 360, cls, thick)

    def ground(self, x0: float, x1: float, z0: float, z1: float, color, cls: int | None) -> None:
        z0 = max(z0, self.cam.z + NEAR)
        if z1 <= z0:
            return
        self.poly([self.project(x0, 0, z0), self.project(x1, 0, z0), self.project(x1, 0, z1),
                   self.project(x0, 0, z1)], color, cls)


def render(world: World, cam: Camera, height: int, width: int, t: float = 0.0):
    """Render the world seen from ``cam`` at time ``t``; returns (BGR uint8 image, uint8 mask)."""
    cv = Canvas(height, width, cam)
    far = cam.z + 1000.0  # ground runs to the horizon; objects end with the world
    _sky(cv, world)
    edge = world.road_half + world.pavement
    cv.ground(-400, 400, cam.z, far, world.verge_color, TREE)  # verge/grass: CamVid files it under Tree
    cv.ground(-edge, edge, cam.z, far, world.pave_color, PAVEMENT)
    cv.ground(-world.road_half, world.road_half, cam.z, far, world.road_color, ROAD)
    _markings(cv, world, far)
    _shadows(cv, world)
    for fac in sorted(world.facades, key=lambda f: -abs(f.x) - 0.01 * f.z0):
        if fac.z1 > cam.z + NEAR and fac.z0 < far:
            _facade(cv, fac)
    things = [(th.z + th.speed * t, th) for th in world.things]
    for z, th in sorted(things, key=lambda p: -p[0]):
        if cam.z + NEAR * 1.5 < z < far:
            _THING[th.kind](cv, th, z)
    return cv.img, cv.mask


def _sky(cv: Canvas, world: World) -> None:
    h, w = cv.mask.shape
    rows = max(int(cv.cy) + 2, 1)
    grad = np.linspace(0, 1, rows, dtype=np.float32)[:, None]
    top, bottom = np.array(world.sky_top, np.float32), np.array(world.sky_bottom, np.float32)
    band = (top * (1 - grad) + bottom * grad).astype(np.uint8)
    cv.img[:rows] = band[:h, None, :]
    cv.mask[:rows] = SKY
    for cx, cy, rx, ry in world.clouds:
        cv.ellipse((int(cx * w), int(cy * cv.cy)), (int(rx * w), int(ry * h)), (235, 235, 235), None)


def _markings(cv: Canvas, world: World, far: float) -> None:
    period, dash = 9.0, 3.0
    z = np.floor(cv.cam.z / period) * period
    while z < far:
        cv.ground(-0.08, 0.08, z, z + dash, world.line_color, ROAD)
        z += period
    for side in (-1, 1):
        x = side * (world.road_half - 0.25)
        cv.ground(x - 0.07, x + 0.07, cv.cam.z, far, world.line_color, ROAD)


def _shadows(cv: Canvas, world: World) -> None:
    # Shadows change colour, never class: the model must not learn "dark = not road".
    shade = tuple(int(c * 0.55) for c in world.road_color)
    for x0, x1, z0, z1 in world.shadows:
        cv.ground(x0, x1, z0, z1, shade, None)


def _facade(cv: Canvas, fac: Facade) -> None:
    z0 = max(fac.z0, cv.cam.z + NEAR)
    side = np.sign(fac.x)
    cls = fac.kind
    cv.poly([cv.project(fac.x, 0, z0), cv.project(fac.x, fac.h, z0), cv.project(fac.x, fac.h, fac.z1),
             cv.project(fac.x, 0, fac.z1)], fac.color, cls)
    if fac.z0 > cv.cam.z + NEAR:  # the block's front face, seen where it starts
        front = tuple(int(c * 0.8) for c in fac.color)
        xo = fac.x + side * fac.depth
        cv.poly([cv.project(fac.x, 0, z0), cv.project(xo, 0, z0), cv.project(xo, fac.h, z0),
                 cv.project(fac.x, fac.h, z0)], front, cls)
    if cls == BUILDING:
        floor = 3.0
        for y in np.arange(1.0, fac.h - 1.0, floor):
            for z in np.arange(z0 + 1.0, fac.z1 - 1.5, 3.0):
                cv.poly([cv.project(fac.x, y, z), cv.project(fac.x, y + 1.6, z),
                         cv.project(fac.x, y + 1.6, z + 1.4), cv.project(fac.x, y, z + 1.4)], fac.detail, None)
    else:
        for z in np.arange(z0, fac.z1, 1.5):
            a, b = cv.project(fac.x, 0, z), cv.project(fac.x, fac.h, z)
            cv2.line(cv.img, a, b, fac.detail, max(1, int(cv.f * 0.06 / max(z - cv.cam.z, NEAR))))


def _box(cv: Canvas, th: Thing, z: float) -> tuple[int, int, int, int, float]:
    """Screen box (left, top, right, bottom) and pixels per metre of a billboard at depth z."""
    u, v = cv.project(th.x, 0, z)
    s = cv.f / max(z - cv.cam.z, NEAR)
    half = th.w * s / 2
    return int(u - half), int(v - th.h * s), int(u + half), v, s


def _tree(cv: Canvas, th: Thing, z: float) -> None:
    x0, y0, x1, y1, s = _box(cv, th, z)
    cx = (x0 + x1) // 2
    trunk = max(1, int(0.18 * s))
    cv.rect(cx - trunk, y0 + (y1 - y0) // 2, cx + trunk, y1, th.colors[1], TREE)
    r = max(1, (x1 - x0) // 2)
    crown = (cx, y0 + r)
    cv.ellipse(crown, (r, max(1, int(r * (1.0 + 0.2 * th.variant)))), th.colors[0], TREE)
    light = tuple(min(255, int(c * 1.25)) for c in th.colors[0])
    cv.ellipse((crown[0] - r // 3, crown[1] - r // 3), (max(1, r // 2), max(1, r // 2)), light, TREE)


def _pole(cv: Canvas, th: Thing, z: float) -> None:
    x0, y0, x1, y1, s = _box(cv, th, z)
    cv.rect(x0, y0, max(x1, x0 + 1), y1, th.colors[0], POLE)
    if th.variant:  # a sign near the top: 1 round, 2 triangle, 3 rectangle
        r = max(2, int(0.35 * s))
        cx, cy = (x0 + x1) // 2, y0 + r
        if th.variant == 1:
            cv.ellipse((cx, cy), (r, r), th.colors[1], SIGN)
        elif th.variant == 2:
            cv.poly([(cx - r, cy + r), (cx + r, cy + r), (cx, cy - r)], th.colors[1], SIGN)
        else:
            cv.rect(cx - int(1.6 * r), cy - r, cx + int(1.6 * r), cy + r, th.colors[1], SIGN)


def _car(cv: Canvas, th: Thing, z: float) -> None:
    x0, y0, x1, y1, s = _box(cv, th, z)
    body_top = y0 + int(0.45 * (y1 - y0))
    inset = int(0.15 * (x1 - x0)) if th.variant == 0 else int(0.05 * (x1 - x0))
    cv.poly([(x0 + inset, y0), (x1 - inset, y0), (x1, body_top), (x0, body_top)], th.colors[0], CAR)
    cv.rect(x0, body_top, x1, y1 - int(0.12 * (y1 - y0)), th.colors[0], CAR)
    glass = (int(th.colors[1][0] + 40), int(th.colors[1][1] + 40), int(th.colors[1][2] + 40))
    m = max(1, int(0.08 * (x1 - x0)))
    cv.poly([(x0 + inset + m, y0 + m), (x1 - inset - m, y0 + m), (x1 - m, body_top - 1), (x0 + m, body_top - 1)],
            glass, None)
    wheel = max(1, int(0.2 * (x1 - x0)))
    cv.rect(x0, y1 - int(0.15 * (y1 - y0)), x0 + wheel, y1, th.colors[1], CAR)
    cv.rect(x1 - wheel, y1 - int(0.15 * (y1 - y0)), x1, y1, th.colors[1], CAR)
    lamp = max(1, int(0.1 * (x1 - x0)))
    ly = body_top + int(0.15 * (y1 - y0))
    cv.rect(x0 + m, ly, x0 + m + lamp, ly + lamp // 2, (40, 40, 200), None)
    cv.rect(x1 - m - lamp, ly, x1 - m, ly + lamp // 2, (40, 40, 200), None)


def _person(cv: Canvas, th: Thing, z: float, cls: int, top: int, bottom: int, left: int, right: int) -> None:
    h = bottom - top
    cx = (left + right) // 2
    head = max(1, int(0.07 * h))
    cv.ellipse((cx, top + head), (head, head), th.colors[2], cls)
    half = max(1, (right - left) // 2)
    cv.rect(cx - half, top + 2 * head, cx + half, top + int(0.55 * h), th.colors[0], cls)
    leg = max(1, half // 2)
    cv.rect(cx - half, top + int(0.55 * h), cx - half + leg, bottom, th.colors[1], cls)
    cv.rect(cx + half - leg, top + int(0.55 * h), cx + half, bottom, th.colors[1], cls)


def _pedestrian(cv: Canvas, th: Thing, z: float) -> None:
    x0, y0, x1, y1, _ = _box(cv, th, z)
    _person(cv, th, z, PEDESTRIAN, y0, y1, x0, x1)


def _bicyclist(cv: Canvas, th: Thing, z: float) -> None:
    x0, y0, x1, y1, s = _box(cv, th, z)
    r = max(1, int(0.33 * s))
    thick = max(1, int(0.06 * s))
    for cx in (x0 + r, x1 - r):
        cv.ellipse((cx, y1 - r), (r, r), th.colors[2], BICYCLIST, thick)
    cv2.line(cv.img, (x0 + r, y1 - r), (x1 - r, y1 - r), th.colors[1], thick)
    cv2.line(cv.mask, (x0 + r, y1 - r), (x1 - r, y1 - r), BICYCLIST, thick)
    mid = (x0 + x1) // 2
    w = max(1, int(0.22 * s))
    _person(cv, th, z, BICYCLIST, y0, y1 - r, mid - w, mid + w)


_THING = {TREE: _tree, POLE: _pole, CAR: _car, PEDESTRIAN: _pedestrian, BICYCLIST: _bicyclist}
