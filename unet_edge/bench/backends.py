"""Backends of ``unet-edge bench``: what each needs, how to get its artifact, why it is unavailable."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from unet_edge.core.errors import BenchError, ConfigError
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


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "unet-edge" / "bench"


def unavailable_reason(backend: str, kind: str) -> str | None:
    """Why ``backend`` cannot run here for a model of ``kind`` (checkpoint, onnx, engine), or None."""
    family = BACKENDS[backend].family
    if family == "torch":
        if kind != "checkpoint":
            return "needs a PyTorch model (a checkpoint, a state dict, a .pt2 or a TorchScript file)"
        if not installed("torch"):
            return missing("torch")
    if family in ("onnxruntime", "openvino"):
        if kind == "engine":
            return "a TensorRT engine runs only on TensorRT"
        if not installed(family):
            return missing(family)
        if kind in ("checkpoint", "foreign-onnx") and not installed("onnx"):
            return missing("onnx")
    if family == "tensorrt":
        if not installed("tensorrt"):
            return missing("tensorrt") + " on the GPU/Jetson; engines are built there"
        try:
            from unet_edge.runtime.cuda import device_info

            device_info()
        except Exception as exc:  # no driver, no device
            return f"no usable CUDA device ({str(exc).splitlines()[0][:80]})"
    return None


EXPORT_REV = 3  # bump when exported graphs change, so cached artifacts are re-exported


class ArtifactCache:
    """Exports a model on demand into a cache folder keyed by its sha256, the options that describe a
    model unet-edge did not train (``spec``) and the input size."""

    def __init__(self, ckpt: Path, size: tuple[int, int] | None, calib: str | None, root: Path | None,
                 log, subpixel: bool = False, spec=None) -> None:
        self.ckpt, self.size, self.calib, self.log, self.subpixel = ckpt, size, calib, log, subpixel
        self.spec = spec
        digest = hashlib.sha256(ckpt.read_bytes() + (repr(spec).encode() if spec else b"")).hexdigest()[:12]
        tag = (f"{size[0]}x{size[1]}" if size else "native") + ("-subpixel" if subpixel else "") + f"-r{EXPORT_REV}"
        self.dir = (root or cache_root()) / f"{ckpt.stem}-{digest}-{tag}"

    def onnx(self, precision: str, int8_target: str = "cpu") -> Path:
        from unet_edge.export.any_model import export_any
        from unet_edge.export.exporter import ExportOptions
        from unet_edge.export.int8.stage import int8_path

        sub = self.dir / (f"int8-{int8_target}" if precision == "int8" else "float")
        name = {"fp32": f"{self.ckpt.stem}.onnx", "fp16": f"{self.ckpt.stem}.fp16.onnx",
                "int8": int8_path(sub, self.ckpt.stem, int8_target).name}[precision]
        path = sub / name
        if path.is_file() and path.with_name(path.name + ".json").is_file():
            return path
        if precision == "int8" and not self.calib:
            raise BenchError("INT8 needs calibration frames: pass --data or --source (real frames)")
        opts = ExportOptions(fp16=precision == "fp16", int8=precision == "int8", int8_target=int8_target,
                             calib=self.calib, calib_frames=300, size=self.size, out=sub, verify=False, build=False,
                             subpixel=self.subpixel)
        self.log(f"exporting {precision} ONNX into {sub}")
        export_any(self.ckpt, opts, self.spec, lambda _m: None)
        return path
