"""``unet-edge export``: checkpoint -> FP32 / FP16 / INT8 ONNX (+ engines where TensorRT runs), verified."""

from __future__ import annotations

import copy
import datetime as _dt
import gc
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core import sysinfo
from unet_edge.core.artifact import INT8_TARGETS, file_sha256, write_meta
from unet_edge.core.errors import ConfigError
from unet_edge.export.thresholds import DEFAULT_MAX_CLASS_DROP, DEFAULT_MAX_MIOU_DROP, DEFAULT_SEARCH_MINUTES


@dataclass
class ExportOptions:
    fp16: bool = False
    int8: bool = False
    int8_target: str = INT8_TARGETS[0]  # INT8 flavour: tensorrt | cpu
    calib: str | None = None  # LAYOUT:PATH, an image folder or a video
    calib_frames: int = 500
    calib_method: str | None = None  # None: try minmax, percentile and entropy, keep the best
    # INT8: pixel agreement with the FP32 model, a floor beside accuracy where the verification frames
    # have labels, the criterion without (None: DEFAULT_AGREEMENT_FLOOR or DEFAULT_MIN_AGREEMENT)
    min_agreement: float | None = None
    max_miou_drop: float = DEFAULT_MAX_MIOU_DROP  # with labels: at most this mIoU lost (a fraction)
    max_class_drop: float = DEFAULT_MAX_CLASS_DROP  # and at most this IoU lost by any class
    int8_search_minutes: float = DEFAULT_SEARCH_MINUTES  # the float-layer search's budget, calibration apart
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


def base_meta(ckpt: dict, ckpt_path: Path, size: tuple[int, int], opts: ExportOptions, multiple: int = 16) -> dict:
    """Metadata shared by every artifact of one export (the sidecar and metadata_props)."""
    h, w = size
    shape = ["N", "H", "W", 3] if opts.dynamic else [1, h, w, 3]
    out_shape = (["N", len(ckpt["classes"]), "H", "W"] if opts.logits else ["N", "H", "W"]) if opts.dynamic else \
        ([1, len(ckpt["classes"]), h, w] if opts.logits else [1, h, w])
    return {
        "arch": ckpt["arch"], "model_options": ckpt["model_options"], "num_classes": ckpt["num_classes"],
        "classes": ckpt["classes"], "palette": ckpt["palette"], "ignore_index": ckpt["ignore_index"],
        "input": {"name": "frame", "shape": shape, "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                  "multiple_of": multiple if opts.dynamic else 1},
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


def export_checkpoint(ckpt_path: str | Path, opts: ExportOptions, log: Callable[[str], None] = print,
                      spec=None) -> dict:
    """Export a checkpoint per ``opts``; returns the artifacts, the verification rows and next steps.
    ``ckpt_path`` may also be a PyTorch model unet-edge did not train, described by ``spec`` (a
    models.foreign.ForeignSpec; export/foreign_torch.py)."""
    import time

    import torch

    from unet_edge.core.errors import Int8Rejected
    from unet_edge.export.deploy_module import DeployModule
    from unet_edge.export.foreign_torch import open_source, source_meta
    from unet_edge.export.fp16 import MAX_ERROR
    from unet_edge.export.frame_sets import synthetic_frames
    from unet_edge.export.int8.graph_facts import module_paths
    from unet_edge.export.int8.stage import Int8Reference, int8_path, write_int8
    from unet_edge.export.onnx_export import export_onnx
    from unet_edge.export.report import write_reports
    from unet_edge.export.subpixel import deconv_to_subpixel, has_strided_deconv
    from unet_edge.export.verify import enforce, mask_and_near_ties, verification_set

    t0 = time.monotonic()
    ckpt_path = Path(ckpt_path)
    if opts.logits and opts.confidence:
        raise ConfigError("--confidence goes with the class-id graph, not --logits (softmax the logits yourself)")
    ckpt, model, reference_runner = open_source(ckpt_path, spec, opts.size, log)
    # The architecture pads inside to its own stride (16 for the seeds' U-Net, 32 for EfficientNet);
    # a dynamic graph asks for that multiple so that no shape-dependent Pad ends up in it.
    multiple = int(getattr(model, "size_multiple", 16))
    size = tuple(opts.size or ckpt["input_size"])
    if opts.dynamic:
        size = tuple(-(-s // multiple) * multiple for s in size)
    out = Path(opts.out or ckpt_path.parent)
    stem = ckpt_path.stem
    meta = {**base_meta(ckpt, ckpt_path, size, opts, multiple), **source_meta(ckpt)}
    if opts.subpixel:
        model = deconv_to_subpixel(model)
    artifacts: list[tuple[Path, str]] = []
    measured: dict[Path, dict] = {}  # what each stage measured, for the reports
    checked = verification_set(opts, size, ckpt) if opts.verify else None
    cache: list = []
    ties: list[float] = []

    def ref_masks() -> list:
        """The FP32 model's masks on the verification frames, run once for the INT8 search and the gate;
        ``ties`` gets each frame's near-tie share, which explains an INT8 target out of reach."""
        if not cache:
            with reference_runner(size) as ref:
                for frame in checked[0]:
                    mask, share = mask_and_near_ties(ref.logits(frame))
                    cache.append(mask)
                    ties.append(share)
        return cache

    def emit(path: Path, precision: str, dtype=torch.float32, extra: dict | None = None, body=None) -> None:
        deploy = DeployModule(model if body is None else body, ckpt["mean"], ckpt["std"],
                              logits=opts.logits, dtype=dtype, confidence=opts.confidence)
        data = {**meta, "precision": precision, **(extra or {})}
        export_onnx(deploy, path, size, opts.opset, opts.dynamic, opts.simplify, data)
        write_meta(path, data)
        artifacts.append((path, precision))
        log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {precision})")

    emit(out / f"{stem}.onnx", "fp32")
    if opts.fp16:
        frames = checked[0] if checked else synthetic_frames(size, 4)[0]
        body, fp16, drift = fp16_body(model, frames[:8], ckpt)
        kept = fp16["fp32_layers"]
        log(f"FP16: {len(kept)} layers kept in FP32 (overflow, or drift > {100 * MAX_ERROR:.0f}% of their range)"
            + (f": {', '.join(kept)}" if kept else ""))
        emit(out / f"{stem}.fp16.onnx", "fp16", torch.float16, {"fp16": fp16}, body)
        measured[out / f"{stem}.fp16.onnx"] = {"fp16": {"drift": drift}}
    rejected = None
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
            reference = None
            if opts.verify:
                reference = Int8Reference(checked[0], ref_masks(), checked[1], float(np.mean(ties)))
            dest = int8_path(out, stem, opts.int8_target)
            try:
                measured[dest] = write_int8(dest, out / f"{stem}.onnx", meta, size, ckpt, opts,
                                            module_paths(model), reference, log, source)
            except Int8Rejected as miss:  # verified and reported like the others, then raised
                rejected, dest, measured[miss.path] = miss, miss.path, miss.measured
            artifacts.append((dest, "int8"))
    gate = _verify(reference_runner, artifacts, size, opts, checked, log, ref_masks()) if opts.verify else []
    rows = [r.to_dict() for r in gate]
    # a failed gate's measurements are kept too
    reports = write_reports(artifacts, measured, rows, time.monotonic() - t0)
    if rejected is not None:
        raise rejected
    enforce(gate)
    model = None  # noqa: F841
    gc.collect()  # free the PyTorch model before a TensorRT build: Jetsons have 4-8 GB shared
    engines, commands = _engines(artifacts, opts, log)
    return {"artifacts": [str(p) for p, _ in artifacts], "engines": [str(e) for e in engines],
            "verification": rows, "build_commands": commands, "reports": reports}


def fp16_body(model, frames, ckpt: dict):
    """The half-precision body with FP32 islands where FP16 overflows or drifts, what was done (for
    the sidecar) and every layer's drift (for the report)."""
    import torch

    from unet_edge.export.fp16 import fp32_layers, layer_drift, with_fp32_islands
    from unet_edge.models.normalize import Normalizer

    norm = Normalizer(ckpt["mean"], ckpt["std"])

    def normalize(frame):
        return norm(torch.from_numpy(np.ascontiguousarray(frame[None, ..., ::-1])))

    report = layer_drift(model, frames, normalize)
    keep = fp32_layers(report)
    drift = {n: {"overflow": r["overflow"], "error": round(r["error"], 5)} for n, r in report.items()}
    return with_fp32_islands(model, keep), {"route": "half-precision module export", "fp32_ops": [
        "pre-processing", "ArgMax input"], "fp32_layers": keep}, drift


def _verify(reference_runner, artifacts, size, opts: ExportOptions, checked, log, ref_masks=None):
    from unet_edge.export.criterion import gate_of
    from unet_edge.export.verify import format_table, verify

    frames, labels, source = checked
    with reference_runner(size) as ref:
        rows = verify(ref, artifacts, frames, labels, opts.logits, gate_of(opts), ref_masks)
    log(format_table(rows, source))
    return rows


def _engines(artifacts, opts: ExportOptions, log) -> tuple[list[Path], list[str]]:
    from unet_edge.export.trt_plan import build_command

    by_precision = {p: path for path, p in artifacts}
    if opts.int8_target == "cpu":  # the CPU INT8 flavour is not TensorRT's (see trt_from_export.check_int8_flavour)
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
    from unet_edge.export.trt_from_export import build_from_export

    engines = [build_from_export(by_precision, p, None, opts.workspace_gb, None, None, log) for p in wanted]
    return engines, []
