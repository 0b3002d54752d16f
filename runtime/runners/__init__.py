"""Runners behind one contract: ``with open_runner(path) as r: mask = r.infer(frame)``."""

from __future__ import annotations

from pathlib import Path

from unet_edge.errors import ConfigError


def open_runner(path: str | Path, backend: str = "auto", device: str = "cpu", threads: int | None = None):
    """The runner for an artifact: ``.onnx`` -> ONNX Runtime, ``.engine`` -> native TensorRT."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx" and backend in ("auto", "onnxruntime"):
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, device=device, threads=threads)
    if suffix == ".onnx" and backend == "tensorrt":
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, device="tensorrt", threads=threads)
    if suffix in (".engine", ".plan", ".trt"):
        from unet_edge.runtime.runners.tensorrt import TensorRTRunner

        return TensorRTRunner(path)
    raise ConfigError(f"{path}: unsupported model type '{suffix}' for backend '{backend}'; "
                      "expected .onnx or .engine from 'unet-edge export'")
