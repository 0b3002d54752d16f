"""Runners behind one contract: ``with open_runner(path) as r: mask = r.infer(frame)``.

Each runner is built from a path (its sidecar, or a lone ``.onnx``'s metadata_props, is read) or
from an ``ArtifactMeta`` (``meta=``), and is activated with ``activate()`` / ``deactivate()`` or as
a context manager (see ``base``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import ConfigError
from unet_edge.runtime.runners.base import TIMING_FIELDS, Runner

__all__ = ["ENGINE_SUFFIXES", "OPENVINO", "TIMING_FIELDS", "Runner", "open_runner"]

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
OPENVINO = "openvino"  # the provider that runs an .onnx with OpenVINO instead of ONNX Runtime


def open_runner(path: str | Path | None = None, provider: str = "cpu", threads: int | None = None,
                input_size: Sequence[int] | None = None, meta: ArtifactMeta | None = None,
                device: str | None = None, precision: str | None = None) -> Runner:
    """The (inactive) runner for an artifact: ``.onnx`` -> ONNX Runtime on ``provider`` (cpu, cuda,
    tensorrt) or OpenVINO (``provider="openvino"``, on ``device`` CPU | GPU | NPU | AUTO at ``precision``
    f32 | bf16; None: bf16 where the export verified it on this CPU), ``.engine`` -> native TensorRT.
    ``input_size`` (H, W) fixes the size of a dynamic export; None runs each frame at ``size_for`` its
    shape (the export size's pixel count at the frame's aspect). ``meta`` is the contract when no
    sidecar is to be read (then ``path`` may be omitted)."""
    path = Path(path) if path is not None else meta.path if meta is not None else None
    if path is None:
        raise ConfigError("open_runner needs a model path or its ArtifactMeta")
    suffix = path.suffix.lower()
    if provider != OPENVINO and (device is not None or precision is not None):
        raise ConfigError(f"--device and --precision choose OpenVINO's device and precision; they apply to "
                          f"--provider {OPENVINO}, not {provider}")
    if provider == OPENVINO:
        if suffix != ".onnx":
            raise ConfigError(f"{path.name}: OpenVINO runs .onnx exports; a TensorRT engine runs only on TensorRT")
        from unet_edge.runtime.runners.openvino import OpenVINORunner

        return OpenVINORunner(path, device=device or "CPU", precision=precision, threads=threads,
                              input_size=input_size, meta=meta)
    if suffix == ".onnx":
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, provider=provider, threads=threads, input_size=input_size, meta=meta)
    if suffix in ENGINE_SUFFIXES:
        from unet_edge.runtime.runners.tensorrt import TensorRTRunner

        return TensorRTRunner(path, input_size=input_size, meta=meta)
    from unet_edge.core.tensorflow_files import refuse_tensorflow

    refuse_tensorflow(path)  # a Keras or TensorFlow model: the tf2onnx command that makes its ONNX graph
    raise ConfigError(f"{path}: unsupported model type '{suffix}'; expected .onnx or .engine from "
                      "'unet-edge export' / 'unet-edge build'")
