"""The synthetic dashcam: procedural street scenes with exact CamVid-class labels.

``scene(seed, size)`` renders one independent frame; ``drive(seed, size, frames)`` yields the
frames of a camera moving forward through one street. Both are deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from unet_edge.synth.camera import Look, apply_look
from unet_edge.synth.raster import Camera, render
from unet_edge.synth.world import make_world

__all__ = ["scene", "drive"]


def _camera(rng: np.random.Generator, z: float) -> Camera:
    return Camera(z=z, x=float(rng.uniform(-1.5, 1.5)), h=float(rng.uniform(1.1, 1.8)),
                  hfov=float(rng.uniform(50, 80)), horizon=float(rng.uniform(0.35, 0.55)))


def scene(seed: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One random street frame: (BGR uint8 HxWx3, class-id uint8 HxW)."""
    rng = np.random.default_rng(seed)
    world = make_world(rng, length=float(rng.uniform(60, 150)))
    cam = _camera(rng, z=float(rng.uniform(-5, 10)))
    img, mask = render(world, cam, size[0], size[1], t=float(rng.uniform(0, 3)))
    return apply_look(img, Look.random(rng), rng), mask


def drive(seed: int, size: tuple[int, int], frames: int, fps: float = 30.0,
          speed: float = 10.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of a dashcam driving forward at ``speed`` m/s through one street."""
    rng = np.random.default_rng(seed)
    world = make_world(rng, length=frames / fps * speed + 160.0)
    cam = _camera(rng, z=0.0)
    look = Look.random(rng)
    base_x = cam.x
    for i in range(frames):
        t = i / fps
        cam.z = speed * t
        cam.x = base_x + 0.3 * np.sin(0.4 * t)  # a gentle drift within the lane
        img, mask = render(world, cam, size[0], size[1], t=t)
        yield apply_look(img, look, rng), mask
