"""The runner contract, after Polygraphy: a context manager whose ``infer()`` runs one frame or batch.

Every runner (ONNX Runtime, native TensorRT, eager PyTorch for reference) shares this base:
it owns activation state, checks inputs the same way, returns outputs by name (the class map
first) and fills the same timing fields after every call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import ConfigError, RunnerError

# Filled after every infer(); None where a stage does not exist (no transfers on a CPU backend).
TIMING_FIELDS = ("pre_ms", "h2d_ms", "compute_ms", "d2h_ms", "post_ms")
Stages = dict[str, float | None]


class Runner:
    """Base runner. Subclasses load in ``activate()``, free in ``deactivate()`` and compute in
    ``_infer(batch) -> (outputs by name, {"h2d_ms", "compute_ms", "d2h_ms"})``.

    ``infer`` takes a BGR uint8 HxWx3 frame (or an NxHxWx3 batch) at the model's input size and
    returns its first output: uint8 class ids HxW (or float logits CxHxW for ``--logits`` exports).
    ``infer_outputs`` returns every output by name, in the sidecar's order.
    """

    backend = "base"

    def __init__(self, meta: ArtifactMeta, input_size: Sequence[int] | None = None) -> None:
        self.meta = meta
        self.path: Path = meta.path
        self.classes = list(meta.classes)
        self.palette = [tuple(c) for c in meta.palette]
        self.ignore_index = meta.ignore_index
        self.precision = meta.precision
        self.output_names = [o.name for o in meta.outputs]
        fixed = meta.input_size
        if input_size is not None and fixed and tuple(input_size) != fixed:
            raise ConfigError(f"{self.path.name} is fixed at {fixed[0]}x{fixed[1]}; a size applies to checkpoints "
                              "and dynamic exports only")
        self.input_size: tuple[int, int] = tuple(input_size or fixed or meta.train_input_size)  # type: ignore[assignment]
        self.timings: dict[str, float | None] = dict.fromkeys(TIMING_FIELDS)
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    def __enter__(self) -> Runner:
        if self._active:
            raise RunnerError(f"{type(self).__name__} for {self.path.name} is already active")
        self.activate()
        self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            try:
                self.deactivate()
            finally:
                self._active = False

    def activate(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def deactivate(self) -> None:
        pass

    def check_frame(self, frame: np.ndarray) -> np.ndarray:
        """Validate dtype/shape; returns a contiguous NHWC batch."""
        if not self._active:
            raise RunnerError(f"use the runner as a context manager: with {type(self).__name__}(...) as r")
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (3, 4) \
                or frame.shape[-1] != 3:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ConfigError(f"expected a uint8 HxWx3 BGR frame, got {got}")
        batch = frame[None] if frame.ndim == 3 else frame
        fixed = self.meta.input_size
        if fixed and tuple(batch.shape[1:3]) != fixed:
            raise ConfigError(f"frame is {batch.shape[1]}x{batch.shape[2]} but {self.path.name} takes "
                              f"{fixed[0]}x{fixed[1]}; resize it first (Segmenter does)")
        mult = self.meta.input.multiple_of
        if mult > 1 and (batch.shape[1] % mult or batch.shape[2] % mult):
            raise ConfigError(f"{self.path.name} takes heights and widths that are multiples of {mult}; "
                              f"got {batch.shape[1]}x{batch.shape[2]}")
        batch_dim = self.meta.input.shape[0]
        if isinstance(batch_dim, int) and batch.shape[0] != batch_dim:
            raise ConfigError(f"{self.path.name} takes batches of {batch_dim}; got {batch.shape[0]} "
                              "(re-export with --dynamic for batching)")
        return np.ascontiguousarray(batch)

    def infer_outputs(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """Every output by name (the class map first) for a frame or a batch."""
        t0 = time.perf_counter()
        batch = self.check_frame(frame)
        t1 = time.perf_counter()
        outs, stages = self._infer(batch)
        t2 = time.perf_counter()
        if frame.ndim == 3:
            outs = {k: v[0] for k, v in outs.items()}
        self.timings = {"pre_ms": 1e3 * (t1 - t0), "h2d_ms": stages.get("h2d_ms"),
                        "compute_ms": stages.get("compute_ms", 1e3 * (t2 - t1)), "d2h_ms": stages.get("d2h_ms"),
                        "post_ms": 1e3 * (time.perf_counter() - t2)}
        return outs

    def infer(self, frame: np.ndarray) -> np.ndarray:
        """The first output (class ids, or logits) for a frame or a batch."""
        return next(iter(self.infer_outputs(frame).values()))

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:  # pragma: no cover - interface
        raise NotImplementedError
