"""``unet-edge build`` from an export: choose, among the graphs exported beside an ONNX, the one the
installed TensorRT needs for a precision, and build (or reuse) its engine with :mod:`.trt_engine`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from unet_edge.core.artifact import load_meta
from unet_edge.core.errors import ArtifactError, ConfigError


def siblings(onnx: Path) -> dict[str, Path]:
    """The FP32/FP16/INT8 ONNX files exported beside ``onnx`` (by their sidecars' precision); the CPU
    INT8 flavour under ``int8-cpu``, so that it never stands in for TensorRT's."""
    base = onnx.name.split(".")[0]
    found = {}

    def key(meta) -> str:
        return "int8-cpu" if meta.int8_target == "cpu" else meta.precision

    for cand in sorted(onnx.parent.glob(f"{base}*.onnx")):
        try:
            found.setdefault(key(load_meta(cand, check_hash=False)), cand)
        except ArtifactError:  # a stray file without a sidecar is not ours to build
            continue
    found[key(load_meta(onnx))] = onnx
    return found


def build_from_export(by_precision: dict[str, Path], precision: str, out: Path | None, workspace_gb: float,
                      dla_core: int | None, timing_cache: Path | None, log: Callable[[str], None] = print,
                      opt_level: int | None = None, max_batch: int = 4) -> Path:
    """Build a ``precision`` engine from the exported graphs in ``by_precision``."""
    check_int8_flavour(by_precision, precision)
    from unet_edge.export.trt_engine import build_engine, cached_build, trt_version
    from unet_edge.export.trt_plan import plan_build

    plan = plan_build(trt_version(), precision, dla_core)
    src = by_precision.get(plan.onnx)
    if src is None:
        flag = {"fp16": "--fp16", "int8": "--int8 --calib ... --int8-target tensorrt"}.get(plan.onnx, "")
        raise ConfigError(f"this TensorRT needs the {plan.onnx} ONNX for a {precision} engine; "
                          f"re-export with: unet-edge export CKPT {flag}".rstrip())
    timing_cache = timing_cache or src.parent / "timing.cache"
    log(f"building {precision} engine from {src.name} (strongly typed: {plan.strongly_typed}, "
        f"flags: {', '.join(plan.builder_flags) or 'none'}, workspace {workspace_gb:g} GB)")
    fp16_onnx = by_precision.get("fp16")  # its sidecar names the layers the FP16 graph keeps in FP32
    fp32_layers = tuple((load_meta(fp16_onnx).to_dict().get("fp16") or {}).get("fp32_layers", [])) if fp16_onnx \
        else ()
    kw = dict(workspace_gb=workspace_gb, timing_cache=timing_cache, opt_level=opt_level, max_batch=max_batch, log=log,
              fp32_layers=fp32_layers if precision == "fp16" else ())
    if out is None:
        engine = cached_build(src, plan, precision, src.parent / "engines", **kw)
    else:
        engine = build_engine(src, plan, precision, out, **kw)
    log(f"engine: {engine}")
    log_cross_checks(src, plan, precision, engine, workspace_gb, timing_cache, max_batch, log)
    return engine


def log_cross_checks(src: Path, plan, precision: str, engine: Path, workspace_gb: float, timing_cache: Path | None,
                     max_batch: int, log: Callable[[str], None]) -> None:
    """The same build with NVIDIA's trtexec, and Polygraphy comparing it with ONNX Runtime."""
    from unet_edge.export.trt_plan import polygraphy_command, profile_shapes, trtexec_command

    meta = load_meta(src)
    shapes = profile_shapes(meta.input.shape, meta.train_input_size, max_batch)
    log("cross-check with NVIDIA's tools:")
    log("  " + trtexec_command(src, plan, precision, engine.with_suffix(".trtexec.engine"), workspace_gb, shapes,
                               meta.input.name, timing_cache))
    log("  " + polygraphy_command(src, precision, shapes[1] if shapes else tuple(meta.input.shape), meta.input.name))


def check_int8_flavour(by_precision: dict[str, Path], precision: str) -> None:
    """Refuse the ONNX Runtime CPU flavour of INT8: its uint8 (asymmetric) activations and
    DepthToSpace-on-uint8 are not TensorRT's explicit quantization, which is symmetric INT8."""
    src = by_precision.get("int8-cpu")
    if precision != "int8" or src is None or "int8" in by_precision:
        return
    if load_meta(src, check_hash=False).int8_target == "cpu":
        raise ConfigError(f"{src.name} was quantized for ONNX Runtime on CPU (uint8 activations); TensorRT needs "
                          "symmetric INT8: re-export with: unet-edge export CKPT --int8 --calib ... "
                          "--int8-target tensorrt")
