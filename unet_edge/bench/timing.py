"""Timing a runner the way trtexec does: warm-up excluded, fixed iterations plus a minimum total
time, percentiles over per-iteration wall times, and a per-stage breakdown."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from unet_edge.runtime.frame import to_model_size
from unet_edge.runtime.runners.base import BACKEND_FIELDS


@dataclass
class Timing:
    mean: float
    p50: float
    p90: float
    p99: float
    fps: float
    iters: int
    stages: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def time_runner(runner, frames: list[np.ndarray], batch: int = 1, warmup: int = 10, iters: int = 50,
                min_seconds: float = 2.0, renderer=None) -> Timing:
    """Time ``runner.infer`` on ``frames`` (at source size); every CPU figure in milliseconds.

    Per iteration: host pre-processing (resize to the input), the runner (split into H2D/compute/D2H
    where the runner reports them), host post-processing (mask back to the frame size, colourised).
    """
    h, w = runner.input_size
    fh, fw = frames[0].shape[:2]
    pre, run, post = [], [], []
    stage_acc: dict[str, list[float]] = {}
    total, i = 0.0, 0
    n = len(frames)
    while True:
        t0 = time.perf_counter()
        batch_in = np.stack([to_model_size(frames[(i + k) % n], (h, w)) for k in range(batch)]) if batch > 1 \
            else to_model_size(frames[i % n], (h, w))
        t1 = time.perf_counter()
        out = runner.infer(batch_in)
        t2 = time.perf_counter()
        mask = out[0] if batch > 1 else out
        if mask.ndim == 3:  # logits
            mask = mask.argmax(0).astype(np.uint8)
        mask = cv2.resize(mask, (fw, fh), interpolation=cv2.INTER_NEAREST)
        if renderer is not None:
            renderer.colorize(mask)
        t3 = time.perf_counter()
        i += 1
        if i <= warmup:
            continue
        pre.append(t1 - t0)
        run.append(t2 - t1)
        post.append(t3 - t2)
        for k in BACKEND_FIELDS:
            if runner.timings[k] is not None:
                stage_acc.setdefault(k, []).append(runner.timings[k])
        total += t3 - t0
        if len(run) >= iters and total >= min_seconds:
            break
    ms = 1e3 * np.asarray(run)
    mean = float(ms.mean())
    # The host's stages named as the pipeline names them (runtime.stats.STAGES): resize before, render after.
    stages = {"resize_ms": 1e3 * float(np.median(pre)), "h2d_ms": None, "compute_ms": float(np.median(ms)),
              "d2h_ms": None, "render_ms": 1e3 * float(np.median(post))}
    # The runner's own split: transfers only where it has them (None on CPU backends).
    stages.update({k: float(np.median(v)) for k, v in stage_acc.items()})
    return Timing(mean=mean, p50=float(np.percentile(ms, 50)), p90=float(np.percentile(ms, 90)),
                  p99=float(np.percentile(ms, 99)), fps=1000.0 * batch / mean, iters=len(ms), stages=stages)
