"""Is an engine usable here? Engines are tied to the TensorRT version and the GPU; say so clearly."""

from __future__ import annotations

from unet_edge.runtime.metadata import ArtifactMeta

from unet_edge.errors import EngineError


def mismatch(meta: ArtifactMeta, trt_version: str, gpu: str, compute_capability: str) -> str | None:
    """Why the engine described by ``meta`` cannot run here, or None when nothing says it cannot."""
    eng = meta.data.get("engine") or {}
    built_trt, built_gpu, built_cc = eng.get("tensorrt"), eng.get("gpu"), eng.get("compute_capability")
    problems = []
    if built_trt and built_trt != trt_version:
        problems.append(f"TensorRT {built_trt} (here {trt_version})")
    if built_cc and built_cc != compute_capability:
        here = compute_capability.replace(".", "")
        problems.append(f"GPU {built_gpu} sm_{built_cc.replace('.', '')} (here {gpu} sm_{here})")
    if not problems:
        return None
    return f"{meta.path.name} was built for {' and '.join(problems)}; {rebuild_hint(meta)}"


def rebuild_hint(meta: ArtifactMeta) -> str:
    eng = meta.data.get("engine") or {}
    cmd = eng.get("rebuild") or f"unet-edge build {eng.get('source_onnx', 'MODEL.onnx')} --{meta.precision}"
    return f"rebuild it on this device with: {cmd}"


def check_engine(meta: ArtifactMeta, trt_version: str, gpu: str, compute_capability: str) -> None:
    """Raise EngineError before deserializing an engine that cannot load here."""
    why = mismatch(meta, trt_version, gpu, compute_capability)
    if why:
        raise EngineError(why)


def deserialize_failed(meta: ArtifactMeta, trt_version: str, gpu: str) -> EngineError:
    """TensorRT's deserializer returned None: name both sides and the fix."""
    eng = meta.data.get("engine") or {}
    return EngineError(f"{meta.path}: TensorRT {trt_version} on {gpu} cannot load this engine (built with TensorRT "
                       f"{eng.get('tensorrt', '?')} on {eng.get('gpu', '?')}); {rebuild_hint(meta)}")
