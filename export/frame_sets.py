"""Real frames for calibration and verification: a dataset, an image folder or a video."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from unet_edge.core.errors import ConfigError, DataError
from unet_edge.data import LAYOUT_NAMES, open_dataset
from unet_edge.data.base import list_images

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
T = TypeVar("T")
# A folder's or a video's frames are parted before any is drawn: every HOLD_EVERY-th is held out of
# calibration, for verification (a dataset LAYOUT:PATH parts by its splits instead).
HOLD_EVERY = 5
PARTS = ("all", "held", "rest")


def spec_path(spec: str) -> Path:
    """The file or folder a frames ``spec`` (``LAYOUT:PATH``, a folder or a video) reads."""
    layout, _, rest = spec.partition(":")
    return Path(rest) if layout in LAYOUT_NAMES and rest else Path(spec)


def part_of(indices: Sequence[int], part: str) -> list[int]:
    """The indices of ``part``: all of them, the held-out ones, or the rest."""
    if part == "all":
        return list(indices)
    held = part == "held"
    return [i for i in indices if (i % HOLD_EVERY == HOLD_EVERY // 2) == held]


def spread(items: Sequence[T], k: int) -> list[T]:
    """Up to ``k`` of ``items``, evenly spread, first and last included (indices rounded): consecutive
    video frames would show one scene several times."""
    if len(items) <= k:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def load_frames(spec: str, size: tuple[int, int], limit: int, split: str = "train",
                num_classes: int | None = None, part: str = "all",
                ) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[str] | None]:
    """Frames (BGR uint8 at ``size``), their labels and class names when the source has them.

    ``spec`` is ``LAYOUT:PATH`` (a labelled dataset: ``split``; ``part`` "beside": the frames of the split
    other than those "all" gives), a folder of images, or a video file (``part``: all its frames, the
    ones held out of calibration, or the rest; :func:`part_of`).
    Frames are spread evenly over the source rather than taken from its start.
    """
    h, w = size
    layout, _, rest = spec.partition(":")
    if layout in LAYOUT_NAMES and rest:
        ds = open_dataset(layout, rest, split, num_classes=num_classes)
        idx = spread(range(len(ds)), limit)
        if part == "beside":  # a split's frames other than the ``limit`` that "all" gives (the gate's)
            idx = spread(sorted(set(range(len(ds))) - set(idx)), limit)
        frames, labels = [], []
        for i in idx:
            rgb, mask = ds[i]
            frames.append(cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (w, h), interpolation=cv2.INTER_LINEAR))
            labels.append(mask)
        return frames, labels, list(ds.info.names)
    path = Path(spec)
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise DataError(f"{path}: no images found")
        frames = []
        for i in spread(part_of(range(len(files)), part), limit):
            img = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"{files[i]}: cannot read image")
            frames.append(cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR))
        return frames, None, None
    if path.suffix.lower() in VIDEO_EXTS:
        return _video_frames(path, size, limit, part), None, None
    raise ConfigError(f"'{spec}': expected LAYOUT:PATH (camvid, carla, folder), an image folder or a video file")


def _video_frames(path: Path, size: tuple[int, int], limit: int, part: str = "all") -> list[np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: video not found")
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or limit
    keep = set(spread(part_of(range(total), part), limit))
    frames, i = [], 0
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if i in keep:
            frames.append(cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_LINEAR))
        i += 1
    cap.release()
    if not frames:
        raise DataError(f"{path}: cannot decode any frame (corrupt or unsupported codec)")
    return frames


def synthetic_frames(size: tuple[int, int], count: int, seed: int = 12345) -> tuple[list, list, list[str]]:
    """Labelled frames from the synthetic dashcam (CamVid classes), rendered at ``size``."""
    from unet_edge.data.classes import CAMVID
    from unet_edge.synth import scene

    pairs = [scene(seed + i, size) for i in range(count)]
    return [p[0] for p in pairs], [p[1] for p in pairs], list(CAMVID.names)
