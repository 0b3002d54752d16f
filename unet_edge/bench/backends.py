"""Backends of ``unet-edge bench``: what each needs, how to get its artifact, why it is unavailable."""

from __future__ import annotations

from dataclasses import dataclass, field

from unet_edge.core.errors import ConfigError
from unet_edge.core.lazy import installed, missing


@dataclass(frozen=True)
class Backend:
    precision: str
    family: str  # torch | onnxruntime | openvino | tensorrt
    artifact: str = ""  # the export it runs where that is not ``precision`` (bf16 runs the FP32 graph)

    @property
    def export(self) -> str:
        return self.artifact or self.precision


BACKENDS = {
    "torch": Backend("fp32", "torch"),  # channels_last activations, as training runs it
    "torch-nchw": Backend("fp32", "torch"),  # PyTorch's default contiguous NCHW: a plain model(x)
    **{f"onnxruntime{suffix}": Backend(p, "onnxruntime") for p, suffix in (("fp32", ""), ("fp16", "-fp16"),
                                                                          ("int8", "-int8"))},
    # OpenVINO on the same graphs: FP32 at an explicit f32 hint and at bf16 (never OpenVINO's own
    # default, which is bf16 on an AMX CPU), and the CPU-flavour INT8 graph.
    "openvino": Backend("fp32", "openvino"),
    "openvino-bf16": Backend("bf16", "openvino", "fp32"),
    "openvino-int8": Backend("int8", "openvino"),
    **{f"tensorrt-{p}": Backend(p, "tensorrt") for p in ("fp32", "fp16", "int8")},
}


@dataclass
class Row:
    backend: str
    precision: str
    status: str = "ok"  # ok | exported-but-failed-validation | unavailable
    reason: str = ""
    artifact: str | None = None
    size_mb: float | None = None
    agreement: float | None = None
    miou: float | None = None
    timing: dict | None = None
    stream: dict | None = None
    load_ms: float | None = None  # activation: session, engine, or OpenVINO's compile (or its cache)
    first_run_ms: float | None = None  # OpenVINO: a compile without its cache, the cost of a first run
    notes: list[str] = field(default_factory=list)


def parse_backends(text: str) -> list[str]:
    names = list(BACKENDS) if text.strip() == "all" else [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)} or 'all'")
    return names


def unavailable_reason(backend: str, kind: str) -> str | None:
    """Why ``backend`` cannot run here for a model of ``kind`` (export.any_model.kind), or None."""
    family = BACKENDS[backend].family
    if family == "torch":
        if kind != "torch":
            return "needs a PyTorch model (a checkpoint, a state dict, a .pt2 or a TorchScript file)"
        if not installed("torch"):
            return missing("torch")
    if family in ("onnxruntime", "openvino"):
        if kind == "engine":
            return "a TensorRT engine runs only on TensorRT"
        if not installed(family):
            return missing(family)
        if kind in ("torch", "foreign-onnx") and not installed("onnx"):
            return missing("onnx")
    if family == "tensorrt":
        if not installed("tensorrt"):
            return missing("tensorrt") + " on the GPU/Jetson; engines are built there"
        try:
            from unet_edge.runtime.runners.cuda import device_info

            device_info()
        except Exception as exc:  # no driver, no device
            return f"no usable CUDA device ({str(exc).splitlines()[0][:80]})"
    return None
