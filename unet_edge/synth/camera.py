"""Camera and lighting effects applied after rendering: exposure, tint, blur, vignette, noise."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Look:
    """Per-scene photometric settings (kept fixed across a clip so it does not flicker)."""

    gain: float
    tint: tuple[float, float, float]
    gamma: float
    noise: float
    blur: bool
    vignette: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Look:
        return cls(gain=float(rng.uniform(0.55, 1.3)), tint=tuple(rng.uniform(0.85, 1.15, 3).tolist()),
                   gamma=float(rng.uniform(0.8, 1.25)), noise=float(rng.uniform(1.0, 7.0)),
                   blur=bool(rng.random() < 0.6), vignette=float(rng.uniform(0.0, 0.35)))


def apply_look(img: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Return a BGR uint8 frame as a camera would deliver it."""
    h, w = img.shape[:2]
    if look.blur:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** look.gamma * look.gain, 0, 255)
    out = np.empty_like(img)
    for c in range(3):
        out[..., c] = cv2.LUT(img[..., c], np.clip(lut * look.tint[c], 0, 255).astype(np.uint8))
    if look.vignette > 0:
        ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        fall = 1.0 - look.vignette * np.clip(xs * xs + ys * ys - 0.3, 0, None)
        out = (out * fall[..., None]).astype(np.uint8)
    noise = rng.normal(0.0, look.noise, size=(h, w, 1)).astype(np.float32)
    return np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
