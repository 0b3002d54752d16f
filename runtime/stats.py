"""Per-stage timing, latency and drop statistics of a stream, and the table printed at the end."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

STAGES = ("capture", "preprocess", "infer", "render", "sinks")


class StreamStats:
    """Collects per-frame stage times (ms) and capture->display latency (ms)."""

    def __init__(self) -> None:
        self.stages: dict[str, list[float]] = defaultdict(list)
        self.latency: list[float] = []
        self.frames = 0
        self.dropped = 0
        self.reconnects = 0
        self.t0 = time.monotonic()
        self.t_end: float | None = None

    def add(self, timings: dict[str, float], latency_ms: float) -> None:
        for k, v in timings.items():
            self.stages[k].append(v)
        self.latency.append(latency_ms)
        self.frames += 1

    def finish(self) -> None:
        self.t_end = time.monotonic()

    @property
    def fps(self) -> float:
        wall = (self.t_end or time.monotonic()) - self.t0
        return self.frames / wall if wall > 0 else 0.0

    def recent_fps(self, window: int = 30) -> float:
        lat = self.stages.get("frame_interval", [])
        if not lat:
            return 0.0
        tail = lat[-window:]
        return 1000.0 / max(1e-6, float(np.mean(tail)))

    def summary(self) -> dict:
        def pct(xs: list[float]) -> dict:
            if not xs:
                return {"p50": None, "p99": None, "mean": None}
            a = np.asarray(xs)
            return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}

        return {"frames": self.frames, "fps": self.fps, "dropped": self.dropped, "reconnects": self.reconnects,
                "stages": {k: pct(self.stages[k]) for k in STAGES if k in self.stages},
                "latency_ms": pct(self.latency)}

    def table(self) -> str:
        s = self.summary()
        lines = ["", f"{'stage':<22}{'p50 ms':>9}{'p99 ms':>9}"]
        for name, v in s["stages"].items():
            lines.append(f"{name:<22}{v['p50']:>9.2f}{v['p99']:>9.2f}")
        lat = s["latency_ms"]
        if lat["p50"] is not None:
            lines.append(f"{'capture->display':<22}{lat['p50']:>9.2f}{lat['p99']:>9.2f}")
        lines.append(f"frames {s['frames']}  FPS {s['fps']:.1f}  dropped {s['dropped']}  "
                     f"source reconnects {s['reconnects']}")
        return "\n".join(lines)
