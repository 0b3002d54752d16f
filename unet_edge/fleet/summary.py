"""The fleet summary of ``label``: one row a video, gathered on the driver as its frames come back.

Each row: the video (its folder under --out), its source, kind, frames labelled, each class's share of
all its pixels, the failure (None when it was labelled), the wall time from its decode's start to its
marker, frames per second over that time, and whether an earlier run had labelled it (``resumed``: then
not timed).
``OUT/summary.parquet`` has the shares as columns ``share_<class>``, so that pandas filters on them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unet_edge.core.io import atomic_path
from unet_edge.core.lazy import require
from unet_edge.fleet.sources import Job

SUMMARY = "summary.parquet"


class VideoTally:
    """One video's index lines and pixel counts, keyed by frame index: a frame that comes back twice (its task
    retried after a worker died) is kept once."""

    def __init__(self, job: Job, n_classes: int) -> None:
        self.job = job
        self.lines: dict[int, str] = {}
        self.counts = np.zeros(n_classes, np.int64)
        self.pixels = 0
        self.frames: int | None = None  # what its decode sent: known at its end row
        self.failure = ""
        self.t_start: float | None = None
        self.actors: Counter[str] = Counter()  # "node:pid" -> frames it inferred

    def add(self, index: int, line: str, counts: np.ndarray, pixels: int, actor: str, t_start: float) -> None:
        self.t_start = t_start if self.t_start is None else min(self.t_start, t_start)
        if index in self.lines:
            return
        self.lines[index] = line
        self.counts += counts
        self.pixels += pixels
        self.actors[actor] += 1

    def end(self, frames: int, failure: str, t_start: float) -> None:
        self.frames, self.failure = frames, failure
        self.t_start = t_start if self.t_start is None else min(self.t_start, t_start)

    @property
    def complete(self) -> bool:
        """Its end row and every frame it announced have come back."""
        return self.frames is not None and len(self.lines) >= self.frames

    def ordered_lines(self) -> list[str]:
        return [self.lines[i] for i in sorted(self.lines)]

    def row(self, classes: Sequence[str], now: float | None = None) -> dict:
        """Its summary row (the failure of an incomplete video says what came back)."""
        wall = max(0.0, (now or time.time()) - (self.t_start or time.time()))
        failure = self.failure or None
        if failure is None and not self.complete:
            failure = f"incomplete: {len(self.lines)} of {self.frames if self.frames is not None else '?'} frames"
        n = len(self.lines)
        shares = {c: round(float(k) / self.pixels, 6) if self.pixels else 0.0 for c, k in zip(classes, self.counts)}
        return {"video": self.job.name, "source": self.job.path, "kind": self.job.kind, "frames": n,
                "failure": failure, "wall_s": round(wall, 3), "fps": round(n / wall, 3) if wall > 0 else None,
                "resumed": False, "shares": shares}


def resumed_row(marker: dict) -> dict:
    """A done video's row, as its marker recorded it: not timed by this run."""
    return dict(marker["row"], wall_s=None, fps=None, resumed=True)


def table(rows: list[dict], classes: Sequence[str]) -> Any:
    """The rows as a pyarrow Table (shares as ``share_<class>`` columns)."""
    pa = require("pyarrow")
    flat = {
        "video": pa.array([r["video"] for r in rows], pa.string()),
        "source": pa.array([r["source"] for r in rows], pa.string()),
        "kind": pa.array([r["kind"] for r in rows], pa.string()),
        "frames": pa.array([r["frames"] for r in rows], pa.int64()),
        "failure": pa.array([r["failure"] for r in rows], pa.string()),
        "wall_s": pa.array([r["wall_s"] for r in rows], pa.float64()),
        "fps": pa.array([r["fps"] for r in rows], pa.float64()),
        "resumed": pa.array([r["resumed"] for r in rows], pa.bool_()),
    }
    for c in classes:
        flat[f"share_{c}"] = pa.array([r["shares"].get(c, 0.0) for r in rows], pa.float64())
    return pa.table(flat)


def write_summary(path: Path, rows: list[dict], classes: Sequence[str]) -> None:
    """``OUT/summary.parquet``, written atomically."""
    pq = require("pyarrow.parquet")
    with atomic_path(path) as tmp:
        pq.write_table(table(rows, classes), tmp)
