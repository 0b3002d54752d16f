"""The runner contract, after Polygraphy: ``activate()``, ``infer()`` a frame or batch, ``deactivate()``.

Every runner (ONNX Runtime, native TensorRT, eager PyTorch for reference) shares this base:
it owns activation state, checks inputs the same way, returns outputs by name (the class map
first) and fills the same timing fields after every call. Subclasses implement three hooks:
``_activate()`` (load), ``_deactivate()`` (free) and ``_infer(batch)`` (compute).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import ArtifactMeta, load_meta
from unet_edge.core.errors import ConfigError, RunnerError

# Filled after every infer(); None where a stage does not exist (no transfers on a CPU backend).
BACKEND_FIELDS = ("h2d_ms", "compute_ms", "d2h_ms")  # what a backend's _infer may report
TIMING_FIELDS = ("pre_ms", *BACKEND_FIELDS, "post_ms")
Stages = dict[str, float | None]


def resolve_meta(path: str | Path | None, meta: ArtifactMeta | None) -> ArtifactMeta:
    """The contract of a runner built from a path (``load_meta``: its sidecar, or a lone ``.onnx``'s
    metadata_props) or from an ArtifactMeta (nothing is read: a graph written for a trial needs no
    sidecar); ``meta.path`` names the file."""
    if meta is None:
        if path is None:
            raise ConfigError("a runner needs a model path or its ArtifactMeta")
        return load_meta(path)
    if path is not None and Path(path) != meta.path:
        raise ConfigError(f"runner given {path} but a contract for {meta.path}")
    return meta


class Runner:
    """Base runner. Use it as ``with runner: ...`` or call ``activate()`` / ``deactivate()``;
    subclasses load in ``_activate()``, free in ``_deactivate()`` and compute in
    ``_infer(batch) -> (outputs by name, {"h2d_ms", "compute_ms", "d2h_ms"})``.

    Every runner is built from a path or from an ``ArtifactMeta`` (``meta=``; see ``resolve_meta``).
    ``infer`` takes a BGR uint8 HxWx3 frame (or an NxHxWx3 batch) at the model's input size and
    returns its first output: uint8 class ids HxW (or float logits CxHxW for ``--logits`` exports).
    ``infer_outputs`` returns every output by name, in the sidecar's order. One call runs at a time
    (a lock): the pipeline's thread and a ``Segmenter`` call may share a runner.

    ``input_size`` is the size given, the fixed export's, or a dynamic export's export size; it never
    changes. A dynamic export given no size runs each frame at ``size_for(frame.shape[:2])`` instead.
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
        mult = max(1, meta.input.multiple_of)
        if input_size is not None and (min(input_size) < 1 or input_size[0] % mult or input_size[1] % mult):
            raise ConfigError(f"size {input_size[0]}x{input_size[1]}: {self.path.name} takes heights and widths "
                              f"that are positive multiples of {mult}")
        self.input_size: tuple[int, int] = tuple(input_size or fixed or meta.train_input_size)  # type: ignore[assignment]
        # A dynamic export given no size runs each source at its own aspect (size_for).
        self.sized_by_frames = input_size is None and fixed is None
        # (min HxW, max HxW) the backend takes, where it has a shape profile (TensorRT); set on activate.
        self.size_limits: tuple[tuple[int, int], tuple[int, int]] | None = None
        self.timings: dict[str, float | None] = dict.fromkeys(TIMING_FIELDS)
        self._active = False
        self._lock = threading.RLock()

    def describe(self) -> str:
        """The backend and precision in words, for a log line ("openvino bf16 (verified by its export)")."""
        return f"{self.backend} {self.precision}"

    def size_for(self, frame_hw: Sequence[int]) -> tuple[int, int]:
        """The input size for frames of ``frame_hw`` (H, W): the fixed or given size, or for a dynamic export
        given none, its export size's pixel count at the frames' aspect (``runtime.frame.aspect_size``),
        kept inside the backend's shape profile (``size_limits``)."""
        if not self.sized_by_frames:
            return self.input_size
        from unet_edge.runtime.frame import aspect_size, within

        mult = self.meta.input.multiple_of
        size = aspect_size(self.meta.train_input_size, (int(frame_hw[0]), int(frame_hw[1])), mult)
        return within(size, self.size_limits, mult) if self.size_limits else size

    def fit_to(self, frame_hw: Sequence[int]) -> tuple[int, int]:
        """``size_for(frame_hw)``, made ready before the first frame of that size: a backend compiled per
        size (OpenVINO) compiles it here, once, so that no infer() pays for it. Nothing else changes."""
        size = self.size_for(frame_hw)
        if self.sized_by_frames and self._active:
            with self._lock:
                self._prepare(size)
        return size

    def _prepare(self, size: tuple[int, int]) -> None:
        """Hook: frames of ``size`` (H, W) come next (most backends take any size of a dynamic export)."""

    @property
    def active(self) -> bool:
        return self._active

    def activate(self) -> None:
        """Load the model (session, engine, weights); a second activate is a RunnerError.
        A failed load frees what it had allocated and leaves the runner inactive."""
        if self._active:
            raise RunnerError(f"{type(self).__name__} for {self.path.name} is already active")
        try:
            self._activate()
        except BaseException:
            try:
                self._deactivate()
            except Exception:  # the load's own error is the one to report
                pass
            raise
        self._active = True

    def deactivate(self) -> None:
        """Free what ``activate()`` loaded; a no-op on an inactive runner."""
        with self._lock:  # not while another thread's infer() runs
            if not self._active:
                return
            try:
                self._deactivate()
            finally:
                self._active = False

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def _activate(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _deactivate(self) -> None:
        pass

    def check_frame(self, frame: np.ndarray) -> np.ndarray:
        """Validate dtype/shape; returns a contiguous NHWC batch."""
        if not self._active:
            raise RunnerError(f"{type(self).__name__} is not active: call activate() first, or use "
                              f"'with {type(self).__name__}(...) as r'")
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
        with self._lock:
            t0 = time.perf_counter()
            batch = self.check_frame(frame)
            t1 = time.perf_counter()
            outs, stages = self._infer(batch)
            t2 = time.perf_counter()
            if frame.ndim == 3:
                outs = {k: v[0] for k, v in outs.items()}
            self.timings = {"pre_ms": 1e3 * (t1 - t0), "h2d_ms": stages.get("h2d_ms"),
                            "compute_ms": stages.get("compute_ms", 1e3 * (t2 - t1)),
                            "d2h_ms": stages.get("d2h_ms"), "post_ms": 1e3 * (time.perf_counter() - t2)}
            return outs

    def infer(self, frame: np.ndarray) -> np.ndarray:
        """The first output (class ids, or logits) for a frame or a batch."""
        return next(iter(self.infer_outputs(frame).values()))

    def logits(self, frame: np.ndarray) -> np.ndarray:
        """Float32 CxHxW logits of one frame: what a reference runner (the model in eager PyTorch, a source
        ONNX graph) gives the precision gate, which judges near-ties on them. The runtime's runners
        give class ids (``infer``), or logits through ``infer`` for a ``--logits`` export."""
        raise RunnerError(f"{type(self).__name__} gives class ids, not logits")

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:  # pragma: no cover - interface
        raise NotImplementedError
