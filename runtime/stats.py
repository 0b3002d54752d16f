"""Stream statistics in constant memory: per-stage times, capture->display latency, drops.

A dashcam runs for days: nothing here grows with the number of frames. Percentiles come from
DDSketch (a streaming quantile sketch with a relative-accuracy guarantee and a fixed bin limit),
the recent FPS from a fixed window of frame intervals.
"""

from __future__ import annotations

import time
from collections import deque

# A frame's stages, in order, each in ms in ``Frame.timings``: read from the source, resize to the
# model's size, the runner's call (its own breakdown is ``Runner.timings``, TIMING_FIELDS), render
# the view, write it to the sinks.
STAGES = ("capture", "resize", "infer", "render", "sinks")
ACCURACY = 0.005  # relative: a reported p99 of 100 ms means 99.5-100.5 ms
BIN_LIMIT = 1024  # bins per sketch: at 0.5% that spans 1 us to hours before the lowest bins collapse


class Percentiles:
    """p50/p99/mean/max of a stream of positive values, in constant memory."""

    def __init__(self) -> None:
        from ddsketch import LogCollapsingLowestDenseDDSketch

        self._sketch = LogCollapsingLowestDenseDDSketch(relative_accuracy=ACCURACY, bin_limit=BIN_LIMIT)
        self.count, self.total, self.max = 0, 0.0, 0.0

    def add(self, value: float) -> None:
        self._sketch.add(value)
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def quantile(self, q: float) -> float | None:
        return None if not self.count else float(self._sketch.get_quantile_value(q))

    def summary(self) -> dict[str, float | None]:
        if not self.count:
            return {"p50": None, "p99": None, "mean": None, "max": None}
        return {"p50": self.quantile(0.5), "p99": self.quantile(0.99), "mean": self.total / self.count,
                "max": self.max}


class StreamStats:
    """Collects per-frame stage times (ms) and capture->display latency (ms)."""

    def __init__(self, recent: int = 30) -> None:
        self.stages: dict[str, Percentiles] = {}
        self.latency = Percentiles()
        self.frames = self.dropped = self.reconnects = 0
        self.t0 = time.monotonic()
        self.t_end: float | None = None
        self._intervals: deque[float] = deque(maxlen=recent)

    def add(self, timings: dict[str, float], latency_ms: float, interval_ms: float | None = None) -> None:
        """One frame: its stage times, its capture->display latency and, for the recent FPS, the
        time since the stream's previous frame was displayed."""
        if interval_ms is not None:
            self._intervals.append(interval_ms)
        for k, v in timings.items():
            if k not in self.stages:
                self.stages[k] = Percentiles()
            self.stages[k].add(v)
        self.latency.add(latency_ms)
        self.frames += 1

    def finish(self) -> None:
        self.t_end = time.monotonic()

    @property
    def wall(self) -> float:
        return (self.t_end or time.monotonic()) - self.t0

    @property
    def fps(self) -> float:
        return self.frames / self.wall if self.wall > 0 else 0.0

    def recent_fps(self) -> float:
        if not self._intervals:
            return 0.0
        return 1000.0 * len(self._intervals) / max(1e-6, sum(self._intervals))

    def summary(self) -> dict:
        stages = {k: self.stages[k].summary() for k in (*STAGES, *sorted(set(self.stages) - set(STAGES)))
                  if k in self.stages}
        return {"frames": self.frames, "fps": self.fps, "seconds": self.wall, "dropped": self.dropped,
                "reconnects": self.reconnects, "stages": stages, "latency_ms": self.latency.summary()}

    def table(self) -> str:
        s = self.summary()
        lines = ["", f"{'stage':<22}{'p50 ms':>10} {'p99 ms':>10}"]  # the space: columns apart past 10 digits
        for name, v in s["stages"].items():
            lines.append(f"{name:<22}{v['p50']:>10.2f} {v['p99']:>10.2f}")
        lat = s["latency_ms"]
        if lat["p50"] is not None:
            lines.append(f"{'capture->display':<22}{lat['p50']:>10.2f} {lat['p99']:>10.2f}")
        lines.append(f"frames {s['frames']}  FPS {s['fps']:.1f}  dropped {s['dropped']}  "
                     f"source reconnects {s['reconnects']}")
        return "\n".join(lines)


def line(s: dict, label: str) -> str:
    """One line of a summary, for periodic reports of runs that never end."""
    lat = s["latency_ms"]
    latency = "-" if lat["p50"] is None else f"{lat['p50']:.1f}/{lat['p99']:.1f} ms"
    return (f"[{label}] frames {s['frames']}  FPS {s['fps']:.1f}  latency p50/p99 {latency}  "
            f"dropped {s['dropped']}  reconnects {s['reconnects']}")
