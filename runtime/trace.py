"""``--trace PATH``: every displayed frame's timings as a CSV row, streamed to disk, for offline
analysis of long runs (exact percentiles, stalls) without holding anything in memory."""

from __future__ import annotations

from pathlib import Path

from unet_edge.core.errors import SinkError
from unet_edge.runtime.stats import STAGES

COLUMNS = ("frame", "t_capture", "latency_ms", *(f"{s}_ms" for s in STAGES), "stream")


class FrameTrace:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115 - held for the run
        except OSError as exc:
            raise SinkError(f"--trace {self.path}: cannot write ({exc.strerror})") from exc
        self._fh.write(",".join(COLUMNS) + "\n")

    def write(self, index: int, t_capture: float, latency_ms: float, timings: dict[str, float],
              stream: int = 0) -> None:
        stages = ",".join(f"{timings[s]:.4f}" if s in timings else "" for s in STAGES)
        self._fh.write(f"{index},{t_capture:.6f},{latency_ms:.4f},{stages},{stream}\n")

    def close(self) -> None:
        self._fh.close()
