"""``unet-edge build`` from an export: choose, among the graphs exported beside an ONNX, the one the
installed TensorRT needs for a precision, and build (or reuse) its engine with :mod:`.engine`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from unet_edge.core.artifact import load_meta
from unet_edge.core.errors import ArtifactError, ConfigError
from unet_edge.core.shipped import derived_dir

DEFAULT_WORKSPACE_GB = 1.0


def siblings(onnx: Path) -> dict[str, Path]:
    """The FP32/FP16/INT8 ONNX files exported beside ``onnx`` (by their sidecars' precision); the CPU
    INT8 flavour under ``int8-cpu``, so that it never stands in for TensorRT's."""
    base = onnx.name.split(".")[0]
    found = {}

    def key(meta) -> str:
        return f"int8-{meta.int8_target}" if meta.int8_target not in (None, "tensorrt") else meta.precision

    for cand in sorted(onnx.parent.glob(f"{base}*.onnx")):
        try:
            found.setdefault(key(load_meta(cand, check_hash=False)), cand)
        except ArtifactError:  # a stray file without a sidecar is not ours to build
            continue
    found[key(load_meta(onnx))] = onnx
    return found


@dataclass(frozen=True)
class BuildOptions:
    """How ``unet-edge build`` builds: the engine path (None: cached beside the ONNX), the builder's
    workspace, a DLA core, a timing cache reused across builds, the optimisation level and the largest
    batch of a dynamic export's profile."""

    out: Path | None = None
    workspace_gb: float = DEFAULT_WORKSPACE_GB
    dla_core: int | None = None
    timing_cache: Path | None = None
    opt_level: int | None = None
    max_batch: int = 4


def check_build_plan(onnx: Path, opts: BuildOptions, triton: Path | None = None,
                     overwrite: bool = False) -> dict[str, Path]:
    """``unet-edge build``'s plan, before anything is built or written: the builder's numbers, and an
    ``--out`` that is neither an input (the exported graphs beside ``onnx``, their sidecars) nor an
    earlier engine, unless ``overwrite``. Returns :func:`siblings` of ``onnx`` (read and hashed once)."""
    from unet_edge.core.artifact import sidecar_path
    from unet_edge.core.plan import check_disjoint

    if not opts.workspace_gb > 0:
        raise ConfigError(f"--workspace {opts.workspace_gb:g}: must be above 0 (GB)")
    found = siblings(onnx)
    inputs = {"ONNX": [p for g in [onnx, *found.values()] for p in (g, sidecar_path(g))]}
    out = opts.out
    outputs = {"--out": [out, sidecar_path(out)] if out is not None else None, "--timing-cache": opts.timing_cache,
               "--triton": triton}
    check_disjoint(inputs, outputs)
    if out is None:  # the engine cache: an engine of the same key is reused, never rebuilt over
        return found
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; give the engine's file name")
    if (out.exists() or sidecar_path(out).exists()) and not overwrite:
        raise ConfigError(f"--out {out}: already exists; pass --overwrite to replace it (once the new engine is "
                          "built), or choose another --out")
    return found


def build_from_export(by_precision: dict[str, Path], precision: str, opts: BuildOptions = BuildOptions(),
                      log: Callable[[str], None] = print) -> Path:
    """Build a ``precision`` engine from the exported graphs in ``by_precision``."""
    check_int8_flavour(by_precision, precision)
    from unet_edge.export.tensorrt.engine import build_engine, cached_build, trt_version
    from unet_edge.export.tensorrt.plan import plan_build

    plan = plan_build(trt_version(), precision, opts.dla_core)
    src = by_precision.get(plan.onnx)
    if src is None:
        flag = {"fp16": "--fp16", "int8": "--int8 --calib ... --int8-target tensorrt"}.get(plan.onnx, "")
        raise ConfigError(f"this TensorRT needs the {plan.onnx} ONNX for a {precision} engine; "
                          f"re-export with: unet-edge export CKPT {flag}".rstrip())
    opts = replace(opts, timing_cache=opts.timing_cache or derived_dir(src) / "timing.cache")
    log(f"building {precision} engine from {src.name} (strongly typed: {plan.strongly_typed}, "
        f"flags: {', '.join(plan.builder_flags) or 'none'}, workspace {opts.workspace_gb:g} GB)")
    fp16_onnx = by_precision.get("fp16")  # its sidecar names the layers the FP16 graph keeps in FP32
    fp32_layers = tuple((load_meta(fp16_onnx).to_dict().get("fp16") or {}).get("fp32_layers", [])) if fp16_onnx \
        else ()
    fp32_layers = fp32_layers if precision == "fp16" else ()
    if opts.out is None:
        engine = cached_build(src, plan, precision, derived_dir(src) / "engines", opts, log, fp32_layers)
    else:
        engine = build_engine(src, plan, precision, opts, log, fp32_layers)
    log(f"engine: {engine}")
    log_cross_checks(src, plan, precision, engine, opts, log)
    return engine


def engines_for(artifacts: list[tuple[Path, str]], opts, log: Callable[[str], None]) -> tuple[list[Path], list[str]]:
    """After an export of ``artifacts`` (path, precision; ``opts``: ExportOptions): the engines built where
    TensorRT imports, else the commands that build them on the target."""
    from unet_edge.export.tensorrt.plan import build_command

    by_precision = {precision: path for path, precision in artifacts}
    if opts.int8_target != "tensorrt":  # the CPU and OpenVINO INT8 flavours are not TensorRT's (check_int8_flavour)
        by_precision.pop("int8", None)
    wanted = [p for p in ("fp16", "int8") if p in by_precision] or ["fp32"]
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        tensorrt = None
    if tensorrt is None or not opts.build:
        commands = [build_command(by_precision["fp32"] if p == "fp16" else by_precision[p], p) for p in wanted]
        log("TensorRT is not installed here, so no engine was built. Engines are tied to the GPU and TensorRT "
            "version: build them on the target (e.g. the Jetson) with:")
        for c in commands:
            log(f"  {c}")
        return [], commands
    build = BuildOptions(workspace_gb=opts.workspace_gb)
    return [build_from_export(by_precision, p, build, log) for p in wanted], []


def log_cross_checks(src: Path, plan, precision: str, engine: Path, opts: BuildOptions,
                     log: Callable[[str], None]) -> None:
    """The same build with NVIDIA's trtexec, and Polygraphy comparing it with ONNX Runtime."""
    from unet_edge.core.artifact import profile_shapes
    from unet_edge.export.tensorrt.plan import polygraphy_command, trtexec_command

    meta = load_meta(src)
    shapes = profile_shapes(meta.input.shape, meta.train_input_size, opts.max_batch)
    log("cross-check with NVIDIA's tools:")
    log("  " + trtexec_command(src, plan, precision, engine.with_suffix(".trtexec.engine"), opts.workspace_gb,
                               shapes, meta.input.name, opts.timing_cache))
    log("  " + polygraphy_command(src, precision, shapes[1] if shapes else tuple(meta.input.shape), meta.input.name))


def check_int8_flavour(by_precision: dict[str, Path], precision: str) -> None:
    """Refuse the ONNX Runtime CPU and OpenVINO flavours of INT8: their QDQ placement (uint8 activations,
    DepthToSpace on uint8; NNCF's) is not TensorRT's explicit quantization, which is symmetric INT8."""
    if precision != "int8" or "int8" in by_precision:
        return
    for flavour, made_for in (("cpu", "ONNX Runtime on CPU (uint8 activations)"), ("openvino", "OpenVINO (NNCF)")):
        src = by_precision.get(f"int8-{flavour}")
        if src is not None and load_meta(src, check_hash=False).int8_target == flavour:
            raise ConfigError(f"{src.name} was quantized for {made_for}; TensorRT needs its own symmetric INT8: "
                              "re-export with: unet-edge export CKPT --int8 --calib ... --int8-target tensorrt")
