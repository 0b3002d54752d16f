"""Build one TensorRT engine from one ONNX file per a :class:`BuildPlan`, with its sidecar, and the
engine cache keyed by all the engine is tied to (runs where ``tensorrt`` imports).

Engines are tied to the GPU, the TensorRT version and the platform: build them on the device.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable
from pathlib import Path

from unet_edge.core.artifact import load_meta, profile_shapes, write_meta
from unet_edge.core.errors import EngineError
from unet_edge.core.io import atomic_path, file_sha256
from unet_edge.core.lazy import require
from unet_edge.core.sysinfo import l4t_release
from unet_edge.export.naming import module_path
from unet_edge.export.staging import Staging
from unet_edge.export.tensorrt.plan import BuildPlan, build_command, engine_cache_key, parse_version
from unet_edge.export.tensorrt.progress import elapsed_ticker, progress_monitor


def _gpu() -> tuple[str, str]:
    from unet_edge.runtime.runners.cuda import device_info

    info = device_info()
    return info["name"], info["compute_capability"]


def build_engine(onnx_path: Path, plan: BuildPlan, precision: str, opts, log: Callable[[str], None] = print,
                 fp32_layers: tuple[str, ...] = ()) -> Path:
    """Parse ``onnx_path`` and build per ``plan`` and ``opts`` (from_export.BuildOptions, whose ``out`` is
    set); writes the engine and its sidecar atomically. ``fp32_layers``: module paths pinned to FP32."""
    out, workspace_gb, timing_cache = opts.out, opts.workspace_gb, opts.timing_cache
    trt = require("tensorrt")
    meta = load_meta(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if plan.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EngineError(f"{onnx_path}: TensorRT {trt.__version__} cannot parse it: {errors[:300]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if opts.opt_level is not None and hasattr(config, "builder_optimization_level"):
        config.builder_optimization_level = opts.opt_level
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if plan.precision_constraints and fp32_layers:
        pinned = pin_fp32(trt, plan, network, fp32_layers)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        log(f"  {pinned} layers pinned to FP32 (the FP16 export's {', '.join(fp32_layers)})")
    if plan.dla_core is not None:
        if builder.num_DLA_cores <= plan.dla_core:
            raise EngineError(f"DLA core {plan.dla_core} requested but this device has {builder.num_DLA_cores}")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    inp = network.get_input(0)
    shapes = profile_shapes(tuple(inp.shape), meta.train_input_size, opts.max_batch)
    if shapes:  # a dynamic export
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, *shapes)
        config.add_optimization_profile(profile)
    monitor = progress_monitor(trt, plan, log)
    if monitor is not None and plan.progress_monitor:
        config.progress_monitor = monitor
    cache = None
    if timing_cache is not None:
        blob = timing_cache.read_bytes() if timing_cache.is_file() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=False)
    with contextlib.nullcontext() if monitor is not None else elapsed_ticker(log):
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"{onnx_path}: TensorRT {trt.__version__} failed to build a {precision} engine "
                          "(see the TensorRT log above; try a larger --workspace)")
    if cache is not None:
        with atomic_path(timing_cache) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    gpu, cc = _gpu()
    data = {k: v for k, v in meta.to_dict().items() if k != "artifact_sha256"}
    data.update(precision=precision, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                engine={"tensorrt": trt.__version__, "gpu": gpu, "compute_capability": cc, "l4t": l4t_release(),
                        "dla_core": plan.dla_core, "plan": plan.to_dict(), "source_onnx": onnx_path.name,
                        "source_onnx_sha256": file_sha256(onnx_path),
                        "rebuild": build_command(onnx_path, precision, out, plan.dla_core)})
    data.setdefault("versions", {})["tensorrt"] = trt.__version__
    # The engine and its sidecar replace an earlier pair together, once both are written.
    with Staging(out.parent) as staging:
        staged = staging.dir / out.name
        staged.write_bytes(bytes(serialized))
        write_meta(staged, data)
        staging.publish()
    return out


def pin_fp32(trt, plan: BuildPlan, network, modules: tuple[str, ...]) -> int:
    """Weakly typed builds: run the layers of ``modules`` (PyTorch paths) in FP32; returns how many.
    (TensorRT 11 has no per-layer precision: strongly typed builds take it from the FP16 graph.)"""
    if not plan.precision_constraints:
        return 0
    keep, pinned = set(modules), 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if module_path(layer.name, keep) in keep:
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)
            pinned += 1
    return pinned


def cached_build(onnx_path: Path, plan: BuildPlan, precision: str, cache_dir: Path, opts,
                 log: Callable[[str], None] = print, fp32_layers: tuple[str, ...] = ()) -> Path:
    """Build into ``cache_dir`` under a key of everything the engine is tied to; reuse a hit."""
    from dataclasses import replace

    trt = require("tensorrt")
    gpu, cc = _gpu()
    shapes = {"input": list(load_meta(onnx_path).input.shape), "max_batch": opts.max_batch,
              "fp32_layers": list(fp32_layers)}
    key = engine_cache_key(file_sha256(onnx_path), trt.__version__, gpu, cc, precision, shapes, plan.dla_core,
                           l4t_release())
    out = cache_dir / f"{onnx_path.stem}.{precision}.{key}.engine"
    if out.is_file() and out.with_name(out.name + ".json").is_file():
        return out
    return build_engine(onnx_path, plan, precision, replace(opts, out=out), log, fp32_layers)


def trt_version() -> tuple[int, ...]:
    """The installed TensorRT version (raises MissingDependencyError naming the 'trt' extra)."""
    return parse_version(require("tensorrt").__version__)
