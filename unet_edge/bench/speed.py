"""Two ONNX graphs' speed on this CPU, measured side by side so that both see the same machine load."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def interleaved_ms(first: Path, second: Path, frame: np.ndarray, runs: int = 8,
                   by: str = "cpu") -> tuple[float, float]:
    """Median ms per frame of ``first`` in ONNX Runtime and ``second`` in ONNX Runtime (``by="openvino"``:
    OpenVINO), in alternating blocks. ``second`` runs under ``first``'s contract (it may have no sidecar
    yet: export measures before writing it). Not frame by frame: the idle session's worker threads keep
    spinning for a while after each run and would slow the other (2x on 2 cores)."""
    from unet_edge.core.artifact import ArtifactMeta, load_meta
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    contract = ArtifactMeta.from_dict(load_meta(first, check_hash=False).to_dict(), second)
    times: dict[int, list[float]] = {0: [], 1: []}
    block = 4
    from unet_edge.runtime.runners import open_runner

    with OnnxRuntimeRunner(first) as a, open_runner(second, provider=by, meta=contract) as b:
        for i in range(2 * max(1, -(-runs // block))):
            times[i % 2] += timed_block((a, b)[i % 2], frame, block, settle_s=0.05)
    return float(np.median(times[0])), float(np.median(times[1]))


def timed_block(runner, frame: np.ndarray, runs: int, settle_s: float) -> list[float]:
    """ms of ``runs`` inferences of ``frame``, after ``settle_s`` for another session's threads to stop
    spinning and one untimed run that wakes this session's threads."""
    time.sleep(settle_s)
    out = []
    for j in range(runs + 1):
        t0 = time.perf_counter()
        runner.infer(frame)
        if j:
            out.append(1000 * (time.perf_counter() - t0))
    return out
