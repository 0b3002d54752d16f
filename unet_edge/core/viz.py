"""Colourising masks and composing figures with OpenCV only (no torch, no matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def palette_lut(palette: Sequence[Sequence[int]], bgr: bool = True) -> np.ndarray:
    """A 256x3 uint8 lookup table: class id -> colour; ids past the palette map to black."""
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(palette)] = np.asarray(palette, np.uint8)[:, ::-1] if bgr else np.asarray(palette, np.uint8)
    return lut


def colorize(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """HxW class ids -> HxWx3 colours via a lookup table (one gather, no Python per pixel)."""
    return lut[mask]


def legend(names: Sequence[str], palette: Sequence[Sequence[int]], width: int, row_h: int = 18) -> np.ndarray:
    """A BGR strip of colour swatches with class names, wrapped to ``width`` pixels."""
    cell = 130
    cols = max(1, width // cell)
    rows = (len(names) + cols - 1) // cols
    img = np.full((rows * row_h + 4, width, 3), 255, np.uint8)
    for i, (name, rgb) in enumerate(zip(names, palette)):
        r, c = divmod(i, cols)
        x, y = c * cell + 4, r * row_h + 3
        cv2.rectangle(img, (x, y), (x + 14, y + 12), tuple(int(v) for v in rgb[::-1]), -1)
        cv2.putText(img, name, (x + 18, y + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def comparison_grid(rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], names: Sequence[str],
                    palette: Sequence[Sequence[int]], tile_w: int = 320) -> np.ndarray:
    """Rows of image | ground truth | prediction (the seeds' figure), with headers and a legend.

    ``rows`` holds (BGR image, truth ids, predicted ids); ids outside the palette render black.
    """
    lut = palette_lut(palette)
    tiles = []
    for image, truth, pred in rows:
        h, w = truth.shape
        th = max(1, round(h * tile_w / w))
        parts = [image, colorize(truth, lut), colorize(pred, lut)]
        tiles.append(np.hstack([cv2.resize(p, (tile_w, th), interpolation=cv2.INTER_NEAREST) for p in parts]))
    header = np.full((24, 3 * tile_w, 3), 255, np.uint8)
    for i, title in enumerate(("image", "ground truth", "prediction")):
        cv2.putText(header, title, (i * tile_w + 8, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([header, *tiles, legend(names, palette, 3 * tile_w)])
