"""Video clips and frames for the runtime tests, written with OpenCV (no dataset, no torch)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLIP_FRAMES, CLIP_SIZE = 20, (96, 128)


def frame_image(i: int, size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    """Frame ``i``: a bright bar moving over colour gradients, so every frame differs and the tiny
    model sees several classes in each."""
    h, w = size
    base = np.tile(np.linspace(0, 230, w, dtype=np.uint8), (h, 1))
    img = cv2.merge([base, np.roll(base, 3 * i, axis=1), np.tile(np.linspace(0, 230, h, dtype=np.uint8)[:, None],
                                                                  (1, w))])
    x = (i * 5) % w
    img[:, x:x + 6] = 255
    return img


def write_clip(path: Path, fps: float = 30.0, frames: int = CLIP_FRAMES, size: tuple[int, int] = CLIP_SIZE) -> Path:
    """An MP4 of ``frames`` frames of ``frame_image`` at ``fps``."""
    h, w = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert out.isOpened(), "this OpenCV cannot write mp4v"
    for i in range(frames):
        out.write(frame_image(i, size))
    out.release()
    return path


def count_frames(path: Path) -> int:
    """The frames OpenCV decodes from a video file."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n
