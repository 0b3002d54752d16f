"""Periodic reports for runs that never end: one line to stderr and one JSON record per interval."""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from unet_edge.core.errors import ConfigError, SinkError
from unet_edge.core.sysinfo import rss_mb
from unet_edge.runtime.stats import StreamStats, line


class PeriodicReport:
    """Every ``every`` seconds: the interval's and the whole run's summary, printed as one line and,
    with ``json_path``, appended as one JSON record (JSON Lines; each record flushed)."""

    def __init__(self, every: float, json_path: Path | None = None,
                 log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> None:
        if not every > 0:
            raise ConfigError(f"--stats-every {every:g}: give a number of seconds above 0")
        self.every, self.log = float(every), log
        self.json_path = Path(json_path) if json_path else None
        if self.json_path is not None:
            try:
                self.json_path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.json_path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run
            except OSError as exc:
                raise SinkError(f"--stats-json {self.json_path}: cannot write ({exc.strerror})") from exc
        self.interval = StreamStats()
        self.next_at = time.monotonic() + self.every
        self.index = 0

    def record(self, timings: dict[str, float], latency_ms: float) -> None:
        self.interval.add(timings, latency_ms)

    def observe(self, timings: dict[str, float], latency_ms: float, total: StreamStats) -> None:
        """One displayed frame, then the report if one is due."""
        self.record(timings, latency_ms)
        self.maybe_emit(total)

    def maybe_emit(self, total: StreamStats, force: bool = False) -> None:
        now = time.monotonic()
        if now < self.next_at and not force:
            return
        self.interval.finish()
        part, whole = self.interval.summary(), total.summary()
        self.log(line(part, f"last {part['seconds']:.3g}s") + f"  | total frames {whole['frames']}  "
                 f"FPS {whole['fps']:.1f}  RSS {rss_mb():.0f} MB")
        if self.json_path is not None:
            record = {"index": self.index, "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      "rss_mb": rss_mb(), "interval": part, "total": whole}
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()
        self.index += 1
        self.interval = StreamStats()
        self.next_at = now + self.every

    def close(self) -> None:
        if self.json_path is not None:
            self._fh.close()
