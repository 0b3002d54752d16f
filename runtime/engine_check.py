"""Is an engine usable here? Engines are tied to the TensorRT version and the GPU; say so clearly."""

from __future__ import annotations

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import EngineError


def mismatch(meta: ArtifactMeta, trt_version: str, gpu: str, compute_capability: str) -> str | None:
    """Why the engine described by ``meta`` cannot run here, or None when nothing says it cannot."""
    eng = meta.engine
    if eng is None:
        return None
    problems = []
    if eng.tensorrt and eng.tensorrt != trt_version:
        problems.append(f"TensorRT {eng.tensorrt} (here {trt_version})")
    if eng.compute_capability and eng.compute_capability != compute_capability:
        here = compute_capability.replace(".", "")
        problems.append(f"GPU {eng.gpu} sm_{eng.compute_capability.replace('.', '')} (here {gpu} sm_{here})")
    if not problems:
        return None
    return f"{meta.path.name} was built for {' and '.join(problems)}; {rebuild_hint(meta)}"


def rebuild_hint(meta: ArtifactMeta) -> str:
    eng = meta.engine
    cmd = (eng.rebuild if eng and eng.rebuild else
           f"unet-edge build {eng.source_onnx if eng else 'MODEL.onnx'} --precision {meta.precision}")
    return f"rebuild it on this device with: {cmd}"


def check_engine(meta: ArtifactMeta, trt_version: str, gpu: str, compute_capability: str) -> None:
    """Raise EngineError before deserializing an engine that cannot load here."""
    why = mismatch(meta, trt_version, gpu, compute_capability)
    if why:
        raise EngineError(why)


def deserialize_failed(meta: ArtifactMeta, trt_version: str, gpu: str) -> EngineError:
    """TensorRT's deserializer returned None: name both sides and the fix."""
    eng = meta.engine
    built = f"TensorRT {eng.tensorrt} on {eng.gpu}" if eng else "an unknown TensorRT"
    return EngineError(f"{meta.path}: TensorRT {trt_version} on {gpu} cannot load this engine (built with "
                       f"{built}); {rebuild_hint(meta)}")
