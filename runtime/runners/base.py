"""The runner contract, after Polygraphy: a context manager with ``infer(frame) -> mask``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from unet_edge.runtime.metadata import ArtifactMeta

from unet_edge.errors import ConfigError


class Runner:
    """Base runner. Subclasses load in ``activate()`` and compute in ``_infer()``.

    ``infer`` takes a BGR uint8 HxWx3 frame (or an NxHxWx3 batch) at the model's input size and
    returns uint8 class ids HxW (or float logits NxCxHxW for ``--logits`` exports).
    """

    backend = "base"

    def __init__(self, path: str | Path, meta: ArtifactMeta) -> None:
        self.path = Path(path)
        self.meta = meta
        self.classes = meta.classes
        self.palette = meta.palette
        self.ignore_index = int(meta.data.get("ignore_index", 255))
        self.precision = meta.precision
        self.input_size = meta.input_size or tuple(meta.data.get("train_input_size", (360, 480)))
        self.active = False

    def __enter__(self) -> Runner:
        self.activate()
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
        self.active = False

    def activate(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def deactivate(self) -> None:
        pass

    def check_frame(self, frame: np.ndarray) -> np.ndarray:
        """Validate dtype/shape; returns an NHWC batch."""
        if not self.active:
            raise RuntimeError(f"use the runner as a context manager: with {type(self).__name__}(...) as r")
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (3, 4) \
                or frame.shape[-1] != 3:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ConfigError(f"expected a uint8 HxWx3 BGR frame, got {got}")
        batch = frame[None] if frame.ndim == 3 else frame
        fixed = self.meta.input_size
        if fixed and tuple(batch.shape[1:3]) != fixed:
            raise ConfigError(f"frame is {batch.shape[1]}x{batch.shape[2]} but {self.path.name} takes "
                              f"{fixed[0]}x{fixed[1]}; resize it first (Segmenter does)")
        mult = int(self.meta.data["input"].get("multiple_of", 1))
        if mult > 1 and (batch.shape[1] % mult or batch.shape[2] % mult):
            raise ConfigError(f"{self.path.name} takes heights and widths that are multiples of {mult}; "
                              f"got {batch.shape[1]}x{batch.shape[2]}")
        return np.ascontiguousarray(batch)

    def infer(self, frame: np.ndarray) -> np.ndarray:
        batch = self.check_frame(frame)
        out = self._infer(batch)
        return out[0] if frame.ndim == 3 else out

    def _infer(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError
