"""A generated live camera for the runtime tests."""

from __future__ import annotations

import time

import numpy as np

from unet_edge.runtime.sources import Source


class FlakyCamera(Source):
    """A generated live camera: renders frames at ``fps`` and drops out after ``burst`` frames,
    for the first ``outages`` openings, the way an unplugged USB camera does."""

    live = True
    name = "flaky-camera"

    def __init__(self, fps: float = 200.0, burst: int = 15, outages: int = 2, total: int = 10_000,
                 shape=(72, 96, 3), nominal: float | None = None) -> None:
        # ``nominal`` is the rate the camera claims (the fps a driver reports); it delivers at ``fps``.
        self.period, self.fps = 1.0 / fps, nominal or fps
        self.burst, self.outages, self.total, self.shape = burst, outages, total, shape
        self.opens = 0
        self.served = 0
        self.rng = np.random.default_rng(0)

    def open(self) -> None:
        self.opens += 1
        self.in_burst = 0

    def read(self):
        if self.served >= self.total:
            return False, None
        if self.opens <= self.outages and self.in_burst >= self.burst:
            return False, None
        time.sleep(self.period)
        self.in_burst += 1
        self.served += 1
        return True, self.rng.integers(0, 255, self.shape, dtype=np.uint8)
