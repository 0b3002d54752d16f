"""Runners behind one contract: ``with open_runner(path) as r: mask = r.infer(frame)``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.runtime.runners.base import TIMING_FIELDS, Runner

__all__ = ["ENGINE_SUFFIXES", "TIMING_FIELDS", "Runner", "open_runner"]

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def open_runner(path: str | Path, provider: str = "cpu", threads: int | None = None,
                input_size: Sequence[int] | None = None) -> Runner:
    """The runner for an artifact: ``.onnx`` -> ONNX Runtime on ``provider`` (cpu, cuda, tensorrt),
    ``.engine`` -> native TensorRT. ``input_size`` (H, W) picks the size of a dynamic export."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, provider=provider, threads=threads, input_size=input_size)
    if suffix in ENGINE_SUFFIXES:
        from unet_edge.runtime.runners.tensorrt import TensorRTRunner

        return TensorRTRunner(path, input_size=input_size)
    raise ConfigError(f"{path}: unsupported model type '{suffix}'; expected .onnx or .engine from "
                      "'unet-edge export' / 'unet-edge build'")
