"""Frames as the pipeline carries them, and coercion of whatever a source delivers to BGR uint8."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Frame:
    """One captured frame of stream ``stream``; ``t_capture`` is time.monotonic() at capture, carried
    to the display. ``mask`` (and ``confidence`` where the model has it) are at the model's size.
    ``timings`` holds the ms of each stage it went through (``runtime/stats.py``'s STAGES)."""

    index: int
    image: np.ndarray
    t_capture: float
    timings: dict[str, float] = field(default_factory=dict)
    stream: int = 0
    mask: np.ndarray | None = None
    confidence: np.ndarray | None = None
    view: np.ndarray | None = None


_EPOCH = time.time() - time.monotonic()


def wall_time(t_monotonic: float) -> float:
    """A frame's ``t_capture`` (time.monotonic()) as Unix time, for records that leave the process."""
    return _EPOCH + t_monotonic


def at_size(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Class ids resized (nearest) to ``h`` x ``w``: the model's mask at the source frame's size."""
    return mask if mask.shape[:2] == (h, w) else cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


def to_model_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized (linear) to the model's input ``size`` = (H, W): the only host
    pre-processing, since colour order, scaling and layout are in the graph."""
    h, w = size
    return image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def aspect_size(nominal: tuple[int, int], frame_hw: tuple[int, int], multiple: int = 1) -> tuple[int, int]:
    """The input size a dynamic model runs frames of shape ``frame_hw`` at: about the pixel count of its
    export size ``nominal``, at the frames' aspect, each side a multiple of ``multiple``. Of the sizes next
    to that ideal (and ``nominal`` itself), the one whose aspect and pixel count are off by the least
    (log ratios, summed), so 360x480 frames keep a 352x480 model's own size. Why not stretch, crop or
    letterbox: benchmarks/README.md, "The shipped model and 16:9 footage"."""
    h0, w0 = nominal
    fh, fw = frame_hw
    m = max(1, int(multiple))
    aspect, area = fw / fh, h0 * w0
    ideal_h = (area / aspect) ** 0.5

    def sides(x: float) -> set[int]:
        return {max(m, int(x // m) * m), max(m, int(x // m + 1) * m)}

    def cost(hw: tuple[int, int]) -> float:
        h, w = hw
        return abs(math.log(w / h / aspect)) + abs(math.log(h * w / area))

    candidates = {(h, w) for h in sides(ideal_h) for w in sides(h * aspect)}
    if h0 % m == 0 and w0 % m == 0:
        candidates.add((h0, w0))
    return min(sorted(candidates), key=cost)


def within(size: tuple[int, int], limits: tuple[tuple[int, int], tuple[int, int]], multiple: int = 1
           ) -> tuple[int, int]:
    """``size`` with each side kept inside ``limits`` ((min H, min W), (max H, max W): a TensorRT shape
    profile), still a multiple of ``multiple``."""
    m = max(1, int(multiple))
    (lo_h, lo_w), (hi_h, hi_w) = limits

    def side(x: int, lo: int, hi: int) -> int:
        x = min(max(x, -(-lo // m) * m), hi // m * m)
        return max(x, m)

    return side(size[0], lo_h, hi_h), side(size[1], lo_w, hi_w)


def to_bgr(img: np.ndarray) -> np.ndarray:
    """Gray, BGRA or 16-bit frames -> 3-channel uint8 BGR (a no-op for ordinary frames)."""
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(np.iinfo(img.dtype).max)
                                                         if img.dtype.kind in "ui" else 1.0))
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    return img
