"""Numpy/OpenCV augmentation and resizing, run inside DataLoader workers."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class TrainTransform:
    """Random scale and crop, horizontal flip, colour jitter, to a fixed ``size`` (H, W).

    The scale is relative to the size at which the frame just covers the crop, so the
    same settings work for any source resolution. With probability ``rare_p`` the crop is placed
    over a random pixel of one of the ``rare`` classes present in the frame (rare-class crops, as
    DAFormer's rare-class sampling): for classes found in few frames or in a corner of them, which
    uniform crops seldom show (CamVid's poles are in nearly every crop already: benchmarks/README.md).
    """

    size: tuple[int, int]
    ignore_index: int
    scale: tuple[float, float] = (0.75, 1.5)
    hflip: bool = True
    jitter: float = 0.25
    rare: tuple[int, ...] = ()
    rare_p: float = 0.0

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
        th, tw = self.size
        h, w = mask.shape
        s = max(th / h, tw / w) * rng.uniform(*self.scale)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_NEAREST)
        if nh < th or nw < tw:  # scaled below the crop: pad, labelling the border as ignored
            ph, pw = max(th - nh, 0), max(tw - nw, 0)
            image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            mask = cv2.copyMakeBorder(mask, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=self.ignore_index)
            nh, nw = mask.shape
        y, x = self._corner(mask, rng)
        image, mask = image[y:y + th, x:x + tw], mask[y:y + th, x:x + tw]
        if self.hflip and rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if self.jitter > 0:
            image = color_jitter(image, rng, self.jitter)
        return np.ascontiguousarray(image), np.ascontiguousarray(mask)

    def _corner(self, mask: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
        """The crop's top-left corner: uniform, or (rare-class crops) one whose window holds a rare pixel."""
        th, tw = self.size
        nh, nw = mask.shape
        # The extra draw only when rare crops are on, so recipes without them augment exactly as before.
        if self.rare and self.rare_p > 0 and rng.random() < self.rare_p:
            counts = np.bincount(mask.ravel(), minlength=256)  # one pass, not one comparison per class
            present = [c for c in self.rare if counts[c]]
            if present:
                ys, xs = np.nonzero(mask == present[int(rng.integers(len(present)))])
                i = int(rng.integers(len(ys)))
                py, px = int(ys[i]), int(xs[i])
                return (int(rng.integers(max(0, py - th + 1), min(py, nh - th) + 1)),
                        int(rng.integers(max(0, px - tw + 1), min(px, nw - tw) + 1)))
        return int(rng.integers(0, nh - th + 1)), int(rng.integers(0, nw - tw + 1))


def color_jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter on a uint8 RGB image."""
    img = image.astype(np.float32)
    gray = img @ np.array([0.299, 0.587, 0.114], np.float32)
    sat = rng.uniform(1 - strength, 1 + strength)
    img = gray[..., None] + (img - gray[..., None]) * sat
    contrast = rng.uniform(1 - strength, 1 + strength)
    bright = rng.uniform(-strength, strength) * 255 * 0.5
    img = (img - gray.mean()) * contrast + gray.mean() + bright
    out = np.clip(img, 0, 255).astype(np.uint8)
    shift = int(rng.uniform(-strength, strength) * 18)  # OpenCV hue is 0-179: up to ~±9 degrees
    if shift:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


@dataclass
class EvalTransform:
    """Resize the frame (bilinear) and the mask (nearest) to the model's input ``size``."""

    size: tuple[int, int]

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None = None):
        th, tw = self.size
        if image.shape[:2] != (th, tw):
            image = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_NEAREST)
        return image, mask
