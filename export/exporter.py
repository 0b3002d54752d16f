"""``unet-edge export``: checkpoint -> FP32 / FP16 / INT8 ONNX (+ engines where TensorRT runs), verified."""

from __future__ import annotations

import copy
import datetime as _dt
import gc
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unet_edge.core import sysinfo
from unet_edge.core.artifact import file_sha256, write_meta
from unet_edge.core.errors import ConfigError


@dataclass
class ExportOptions:
    fp16: bool = False
    int8: bool = False
    int8_target: str = "tensorrt"  # INT8 flavour: tensorrt | cpu
    calib: str | None = None  # LAYOUT:PATH, an image folder or a video
    calib_frames: int = 500
    calib_method: str = "minmax"
    opset: int = 17
    dynamic: bool = False
    simplify: bool = False
    logits: bool = False
    confidence: bool = False  # a second output: uint8 round(255 x max softmax probability)
    size: tuple[int, int] | None = None
    out: Path | None = None
    verify_data: str | None = None
    verify_frames: int = 24
    verify: bool = True
    build: bool = True  # build engines when TensorRT imports
    workspace_gb: float = 1.0
    subpixel: bool = False  # rewrite stride-2 ConvTranspose as Conv + DepthToSpace (exact)


def base_meta(ckpt: dict, ckpt_path: Path, size: tuple[int, int], opts: ExportOptions) -> dict:
    """Metadata shared by every artifact of one export (the sidecar and metadata_props)."""
    h, w = size
    shape = ["N", "H", "W", 3] if opts.dynamic else [1, h, w, 3]
    out_shape = (["N", len(ckpt["classes"]), "H", "W"] if opts.logits else ["N", "H", "W"]) if opts.dynamic else \
        ([1, len(ckpt["classes"]), h, w] if opts.logits else [1, h, w])
    return {
        "arch": ckpt["arch"], "model_options": ckpt["model_options"], "num_classes": ckpt["num_classes"],
        "classes": ckpt["classes"], "palette": ckpt["palette"], "ignore_index": ckpt["ignore_index"],
        "input": {"name": "frame", "shape": shape, "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                  "multiple_of": 16 if opts.dynamic else 1},
        "outputs": [{"name": "logits" if opts.logits else "mask", "shape": out_shape,
                     "dtype": "float32" if opts.logits else "uint8",
                     "semantics": "logits" if opts.logits else "class_ids"}]
        + ([{"name": "confidence", "shape": out_shape, "dtype": "uint8", "semantics": "confidence"}]
           if opts.confidence else []),
        "normalization": {"mean": ckpt["mean"], "std": ckpt["std"], "in_graph": True},
        "train_input_size": list(size), "checkpoint": ckpt_path.name, "checkpoint_sha256": file_sha256(ckpt_path),
        "checkpoint_metrics": ckpt.get("metrics"), "opset": opts.opset, "dynamic": opts.dynamic,
        "subpixel": opts.subpixel,
        "versions": sysinfo.versions(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def export_checkpoint(ckpt_path: str | Path, opts: ExportOptions, log: Callable[[str], None] = print) -> dict:
    """Export a checkpoint per ``opts``; returns the artifacts, the verification rows and next steps."""
    import torch

    from unet_edge.export.fold import deconv_to_subpixel, fold_batchnorm, has_strided_deconv
    from unet_edge.export.graph import DeployModule
    from unet_edge.export.onnx_export import export_onnx
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt_path = Path(ckpt_path)
    if opts.logits and opts.confidence:
        raise ConfigError("--confidence goes with the class-id graph, not --logits (softmax the logits yourself)")
    ckpt = load_checkpoint(ckpt_path)
    size = tuple(opts.size or ckpt["input_size"])
    if opts.dynamic:
        size = tuple(-(-s // 16) * 16 for s in size)  # dynamic graphs take multiples of 16
    out = Path(opts.out or ckpt_path.parent)
    stem = ckpt_path.stem
    meta = base_meta(ckpt, ckpt_path, size, opts)
    model = fold_batchnorm(model_from_checkpoint(ckpt, str(ckpt_path)))
    if opts.subpixel:
        model = deconv_to_subpixel(model)
    artifacts: list[tuple[Path, str]] = []

    def emit(path: Path, precision: str, dtype=torch.float32, extra: dict | None = None) -> None:
        deploy = DeployModule(model if dtype == torch.float32 else _half(model), ckpt["mean"], ckpt["std"],
                              logits=opts.logits, dtype=dtype, confidence=opts.confidence)
        data = {**meta, "precision": precision, **(extra or {})}
        export_onnx(deploy, path, size, opts.opset, opts.dynamic, opts.simplify, data)
        write_meta(path, data)
        artifacts.append((path, precision))
        log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {precision})")

    emit(out / f"{stem}.onnx", "fp32")
    if opts.fp16:
        emit(out / f"{stem}.fp16.onnx", "fp16", torch.float16,
             {"fp16": {"route": "half-precision module export", "fp32_ops": ["pre-processing", "ArgMax input"]}})
    if opts.int8:
        with tempfile.TemporaryDirectory(dir=out, prefix=".int8-src-") as tmpdir:
            source = None
            if opts.int8_target == "cpu" and not opts.subpixel and has_strided_deconv(model):
                # ONNX Runtime has no INT8 ConvTranspose: it would run every up-sampling in float
                # between a DQ and a Q. The exact Conv + DepthToSpace form quantizes end to end.
                source = Path(tmpdir) / f"{stem}.onnx"
                sub = DeployModule(deconv_to_subpixel(copy.deepcopy(model)), ckpt["mean"], ckpt["std"],
                                   confidence=opts.confidence)
                export_onnx(sub, source, size, opts.opset, opts.dynamic, opts.simplify, meta)
            artifacts.append(_int8(out / f"{stem}.int8.onnx", out / f"{stem}.onnx", meta, size, ckpt, opts, log,
                                   source))
    rows = []
    if opts.verify:
        rows = _verify(ckpt_path, artifacts, size, ckpt, opts, log)
    model = None  # noqa: F841
    gc.collect()  # free the PyTorch model before a TensorRT build: Jetsons have 4-8 GB shared
    engines, commands = _engines(artifacts, opts, log)
    return {"artifacts": [str(p) for p, _ in artifacts], "engines": [str(e) for e in engines],
            "verification": [r.__dict__ for r in rows], "build_commands": commands}


def _half(model):
    return copy.deepcopy(model).half()


def _int8(dest: Path, fp32: Path, meta: dict, size, ckpt: dict, opts: ExportOptions, log,
          source: Path | None = None) -> tuple[Path, str]:
    """Quantize ``source`` (default: the FP32 artifact) into ``dest``, with ``fp32``'s metadata."""
    from unet_edge.core.artifact import load_meta
    from unet_edge.core.io import atomic_path
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.int8 import quantize
    from unet_edge.export.onnx_export import set_metadata

    if opts.logits:
        raise ConfigError("--int8 with --logits is not supported: quantize the class-id graph")
    if not opts.calib:
        raise ConfigError("--int8 needs real calibration frames: --calib DIR|VIDEO or --calib LAYOUT:PATH "
                          "(never random data)")
    frames, _, _ = load_frames(opts.calib, size, opts.calib_frames, "train", ckpt["num_classes"])
    log(f"calibrating INT8 ({opts.int8_target}) on {len(frames)} frames from {opts.calib}")
    quant = quantize(source or fp32, dest, frames, opts.int8_target, opts.calib_method)
    import onnx

    data = {**load_meta(fp32).to_dict(), **meta, "precision": "int8", "int8": quant}
    if source is not None:
        data["subpixel"] = True
    data.pop("artifact_sha256", None)
    model = onnx.load(str(dest))
    set_metadata(model, data)
    with atomic_path(dest) as tmp:
        onnx.save_model(model, str(tmp))
    write_meta(dest, data)
    log(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, int8 for {opts.int8_target})")
    return dest, "int8"


def _verify(ckpt_path: Path, artifacts, size, ckpt: dict, opts: ExportOptions, log):
    from unet_edge.export.frame_sets import load_frames, synthetic_frames
    from unet_edge.export.verify import enforce, format_table, verify
    from unet_edge.inference import TorchRunner

    if opts.verify_data:
        frames, labels, names = load_frames(opts.verify_data, size, opts.verify_frames, "val", ckpt["num_classes"])
        source = f"{len(frames)} frames of {opts.verify_data}"
    else:
        frames, labels, names = synthetic_frames(size, opts.verify_frames)
        source = f"{len(frames)} synthetic dashcam frames"
    if labels is not None and names != list(ckpt["classes"]):
        labels = None  # labels in other classes say nothing about this model's mIoU
    with TorchRunner(ckpt_path, input_size=size) as ref:
        rows = verify(ref, artifacts, frames, labels, opts.logits)
    log(format_table(rows, source))
    enforce(rows)
    return rows


def _engines(artifacts, opts: ExportOptions, log) -> tuple[list[Path], list[str]]:
    from unet_edge.export.trt_plan import build_command

    by_precision = {p: path for path, p in artifacts}
    if opts.int8_target == "cpu":  # the CPU INT8 flavour is not TensorRT's (see builder.check_int8_flavour)
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
    from unet_edge.export.builder import build_from_export

    engines = [build_from_export(by_precision, p, None, opts.workspace_gb, None, None, log) for p in wanted]
    return engines, []
