"""Is an engine usable here? Engines are tied to the TensorRT version and the GPU; say so clearly."""

from __future__ import annotations

from unet_edge.core.artifact import ArtifactMeta, EngineInfo
from unet_edge.core.errors import ArtifactError, EngineError


def engine_info(meta: ArtifactMeta) -> EngineInfo:
    """The build facts of an engine's contract; an engine without them is an ArtifactError (no
    reader guesses a TensorRT version, GPU or source ONNX)."""
    if meta.engine is None:
        raise ArtifactError(f"{meta.path}: its metadata has no 'engine' block (TensorRT version, GPU, source "
                            "ONNX), so it was not written by 'unet-edge build': rebuild it from its ONNX with that")
    return meta.engine


def mismatch(meta: ArtifactMeta, trt_version: str, gpu: str, compute_capability: str) -> str | None:
    """Why the engine described by ``meta`` cannot run here, or None when nothing says it cannot."""
    eng = engine_info(meta)
    problems = []
    if eng.tensorrt != trt_version:
        problems.append(f"TensorRT {eng.tensorrt} (here {trt_version})")
    if eng.compute_capability != compute_capability:
        here = compute_capability.replace(".", "")
        problems.append(f"GPU {eng.gpu} sm_{eng.compute_capability.replace('.', '')} (here {gpu} sm_{here})")
    if not problems:
        return None
    return f"{meta.path.name} was built for {' and '.join(problems)}; {rebuild_hint(meta)}"


def rebuild_hint(meta: ArtifactMeta) -> str:
    return f"rebuild it on this device with: {engine_info(meta).rebuild}"


def check_engine(meta: ArtifactMeta, trt_version: str, gpu: str, compute_capability: str) -> None:
    """Raise EngineError before deserializing an engine that cannot load here."""
    why = mismatch(meta, trt_version, gpu, compute_capability)
    if why:
        raise EngineError(why)


def deserialize_failed(meta: ArtifactMeta, trt_version: str, gpu: str) -> EngineError:
    """TensorRT's deserializer returned None: name both sides and the fix."""
    eng = engine_info(meta)
    return EngineError(f"{meta.path}: TensorRT {trt_version} on {gpu} cannot load this engine (built with "
                       f"TensorRT {eng.tensorrt} on {eng.gpu}); {rebuild_hint(meta)}")
