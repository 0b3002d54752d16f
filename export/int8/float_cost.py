"""What keeping a layer in float costs: milliseconds of ONNX Runtime on this CPU, measured.

A layer kept float costs its float conv against the INT8 one, plus the DequantizeLinear and
QuantizeLinear around it, which scale with its activations, not its multiply-adds: a full-resolution
conv with few channels can cost more than its MACs say. So the search times the INT8 graph with the
layer float against the one without, on one frame, in alternating blocks (the idle session's worker
threads keep spinning after each run and would slow the other), and only for the layers that gain
on their own: the ranking needs no other. Costs under ``floor`` (timing noise on a small graph) count
as ``floor``. The TensorRT flavour is timed the same way, a proxy for its target's cost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BLOCK = 3  # timed runs a block, after one that wakes the session's threads
BLOCKS = 2  # blocks of each graph


class FloatCost:
    """Times trial graphs against ``base`` (the INT8 graph with the current float layers) on ``frame``,
    under the sidecar dict ``contract`` (trial graphs have none of their own)."""

    def __init__(self, base: Path, frame: np.ndarray, contract: dict, threads: int | None = None) -> None:
        from unet_edge.core.artifact import ArtifactMeta
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        self.frame, self.contract, self.threads = frame, contract, threads
        self.base = OnnxRuntimeRunner(base, threads=threads, meta=ArtifactMeta.from_dict(contract, base))
        self.base.activate()
        self.base_ms = float(np.median(self._block(self.base) + self._block(self.base)))

    def _block(self, runner) -> list[float]:
        from unet_edge.bench.speed import timed_block

        return timed_block(runner, self.frame, BLOCK, settle_s=0.02)

    def extra_ms(self, trial: Path) -> float:
        """Median ms of ``trial`` minus the base graph's, timed in alternating blocks."""
        from unet_edge.core.artifact import ArtifactMeta
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        mine: list[float] = []
        base: list[float] = []
        with OnnxRuntimeRunner(trial, threads=self.threads, meta=ArtifactMeta.from_dict(self.contract, trial)) as r:
            for _ in range(BLOCKS):
                base += self._block(self.base)
                mine += self._block(r)
        return float(np.median(mine) - np.median(base))

    def close(self) -> None:
        self.base.deactivate()
