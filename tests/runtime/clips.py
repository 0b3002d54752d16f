"""Video clips for the runtime tests, written with OpenCV (no dataset, no torch)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_clip(path: Path, fps: float = 30.0, frames: int = 20, size: tuple[int, int] = (72, 96)) -> Path:
    """An MP4 of ``frames`` frames at ``fps``: a bright bar moving over a gradient, so every frame differs."""
    h, w = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert out.isOpened(), "this OpenCV cannot write mp4v"
    base = np.tile(np.linspace(0, 200, w, dtype=np.uint8), (h, 1))
    for i in range(frames):
        img = cv2.merge([base, np.roll(base, i, axis=1), np.full_like(base, 40)])
        x = (i * 5) % w
        img[:, x:x + 6] = 255
        out.write(img)
    out.release()
    return path
