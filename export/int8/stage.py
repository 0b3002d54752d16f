"""The INT8 stage of an export: calibrate on real frames, search for the float layers the gate's
criterion needs, write the QDQ graph with its sidecar; on a miss, write the best graph found as
``<stem>.int8[-cpu].rejected.onnx`` and raise :class:`Int8Rejected` naming it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import load_meta, write_meta
from unet_edge.core.errors import Int8Rejected
from unet_edge.core.sysinfo import PeakRss
from unet_edge.export.naming import display_name

# What the sidecar keeps of the quantizer's record; the runtime reads ``weight_bits`` (int8_probe.py).
CONTRACT = ("target", "activations", "weights", "weight_bits")


@dataclass(frozen=True)
class Int8Reference:
    """What the INT8 search aims at: the verification frames, the FP32 model's masks on them, their
    labels (None without), and the share of near-tie pixels in those masks."""

    frames: list[np.ndarray]
    masks: list[np.ndarray]
    labels: list[np.ndarray] | None
    near_ties: float


def int8_path(out: Path, stem: str, target: str) -> Path:
    """Each flavour has its name: TensorRT's ``best.int8.onnx``, ONNX Runtime's ``best.int8-cpu.onnx``,
    OpenVINO's ``best.int8-openvino.onnx``."""
    return out / (f"{stem}.int8.onnx" if target == "tensorrt" else f"{stem}.int8-{target}.onnx")


@dataclass(frozen=True)
class Int8Job:
    """What the INT8 stage quantizes and where it writes: ``source`` (default: the FP32 artifact ``fp32``)
    into ``dest``, with the export's shared metadata ``meta``, at ``size``. ``modules`` (a PyTorch model's
    module paths) name the float layers."""

    dest: Path
    fp32: Path
    meta: dict
    size: tuple[int, int]
    classes: list[str]
    opts: object  # ExportOptions
    modules: list[str] = field(default_factory=list)
    source: Path | None = None


def write_int8(job: Int8Job, reference: Int8Reference | None, log: Callable[[str], None]) -> dict:
    """Quantize ``job.source`` into ``job.dest`` with the FP32 artifact's metadata; returns what the stage
    measured, for the report (:mod:`unet_edge.export.report`).

    With ``reference`` the float layers are searched until the gate's criterion for INT8 holds
    (:mod:`unet_edge.export.criterion`); without, the default float layers are kept. A miss writes
    the best graph found to :func:`rejected_path` (sidecar included) and raises ``Int8Rejected``."""
    from unet_edge.export.criterion import Scorer, gate_of
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.int8.calibration import parse_methods, quantize
    from unet_edge.export.int8.search import SearchOptions, rejected_path, search

    opts, dest = job.opts, job.dest  # checked whole before export's first write (export_plan.check_options)
    t0 = time.monotonic()
    openvino = opts.int8_target == "openvino"
    methods = ("nncf",) if openvino else parse_methods(opts.calib_method)
    # never the frames held out for verification (export/verify.py verification_set)
    frames, _, _ = load_frames(opts.calib, job.size, opts.calib_frames, "train", len(job.classes),
                               "all" if opts.verify_data else "rest")
    log(f"calibrating INT8 ({opts.int8_target}) on {len(frames)} frames from {opts.calib}")
    graph = job.source or job.fp32
    peak = PeakRss()
    summary = {"flavour": f"int8-{opts.int8_target}"}
    from unet_edge.export.int8.saturation import int8_kernels_saturate

    if not openvino and int8_kernels_saturate():
        log("  INT8 weights in 7 bits (recorded as int8.weight_bits 7): this CPU's ONNX Runtime INT8 kernels "
            "saturate 8-bit ones (no VNNI)")
    found = None
    if reference is None:
        with peak:
            quant = quantize(graph, dest, frames, opts.int8_target, methods[0])
        extra = {}
    else:
        from unet_edge.export.verify import NEAR_TIE

        labels = reference.labels
        criterion = gate_of(opts).criterion("int8", bool(labels))
        aim = criterion.with_margin(SEARCH_MARGIN)
        log(f"  INT8 criterion: {criterion.name} ({criterion.aim()}; the search aims at {aim.aim()}, as the gate "
            f"judges other frames); FP32 near-ties (top two logits within "
            f"{100 * NEAR_TIE:.0f}% of their spread): {100 * reference.near_ties:.2f}% of the search frames' pixels")
        with peak:
            quant, found = search(graph, dest, frames, reference.frames, Scorer(reference.masks, labels,
                                                                                job.classes), job.modules,
                                  SearchOptions(opts.int8_target, aim, methods, accept=criterion,
                                                equalize_activations=not openvino,
                                                # ONNX Runtime's CPU times only its own flavour's
                                                # float cost: TensorRT's and OpenVINO's go by MACs
                                                measure_ms=opts.int8_target == "cpu",
                                                max_seconds=60 * opts.int8_search_minutes, log=log,
                                                contract_of=job.fp32, rejected=rejected_path(dest)))
        dest = found.path
        worst, worst_delta = found.score.worst
        quant["search"] = {"criterion": criterion.to_dict(), "aim": aim.to_dict(), "met": found.met,
                           "agreement": found.agreement,
                           "fp32_near_ties": round(reference.near_ties, 5), "miou_delta": found.score.miou_delta,
                           "worst_class": worst, "worst_class_delta": worst_delta,
                           "float_macs_share": round(found.float_macs_share, 4), "float_ms": found.float_ms,
                           "budget_seconds": 60 * opts.int8_search_minutes, "exhausted": found.exhausted,
                           "steps": found.tried, "seconds": round(found.seconds, 1),
                           "calibration_seconds": round(found.calibration_seconds, 1)}
        summary["criterion"] = criterion.name
        extra = {"float_layers": found.float_layers}
        equalised = len(quant.get("equalized_activations") or [])
        log(f"INT8 ({found.method} calibration" + (f", {equalised} activations equalised" if equalised else "")
            + f"): {criterion.says(found.score)} with {len(found.float_layers)} layers in float: "
            f"{', '.join(map(display_name, found.float_layers)) or 'none'}"
            + ("" if found.met else " (misses the criterion)"))
    summary.update(float_layers=(found.float_layers if found else None),
                   float_macs_share=(round(found.float_macs_share, 4) if found else None))
    # Calibration and search, frames included: the figure a Jetson's shared memory must hold.
    quant["peak_rss_mb"] = {"mb": round(peak.mb), "scope": "int8 stage" if peak.scoped else "process lifetime"}
    log(f"INT8 stage peak memory: {peak.mb / 1e3:.2f} GB" + ("" if peak.scoped else " (process lifetime peak)"))
    _finish(replace(job, dest=dest), quant, extra, frames[0], log)
    summary["stage_seconds"] = round(time.monotonic() - t0, 1)
    measured = {"int8": {k: v for k, v in quant.items() if k not in CONTRACT}, "summary": summary}
    if found is not None and not found.met:
        raise Int8Rejected(miss_message(found, criterion, opts, reference.near_ties), dest, measured)
    return measured


# The search aims at this share of the gate's mIoU and per-class limits: it chooses on other frames than
# the gate's, and on 24 frames a thin class's IoU moves by about a point between two such sets (lite0's
# CPU INT8 met the limits on the search's frames with Fence -0.45 and missed on the gate's with -1.50).
SEARCH_MARGIN = 0.5

# Below this many times FP32's ms, INT8 counts as slower (5%: the spread of two alternating timings here).
SLOWER_MARGIN = 1.05


def _finish(job: Int8Job, quant: dict, extra: dict, frame, log) -> None:
    """Time the CPU flavour against FP32, and write the graph's metadata and sidecar."""
    import onnx

    from unet_edge.bench.speed import interleaved_ms
    from unet_edge.core.io import atomic_path
    from unet_edge.export.onnx_export import set_metadata
    from unet_edge.export.verify import provider

    opts, dest, fp32 = job.opts, job.dest, job.fp32
    data = {**load_meta(fp32).to_dict(), **job.meta, "precision": "int8", **extra,
            "int8": {k: quant[k] for k in CONTRACT}}
    if job.source is not None:
        data["subpixel"] = True
    data.pop("artifact_sha256", None)
    if opts.int8_target in ("cpu", "openvino"):
        # What the float layers leave of INT8's point, on this CPU (TensorRT's is measured on the target).
        by = provider(opts.int8_target)
        runtime = "OpenVINO (f32 float parts)" if by == "openvino" else "ONNX Runtime"
        fp32_ms, int8_ms = interleaved_ms(fp32, dest, frame, by=by)
        quant["speed"] = {"fp32_ms": round(fp32_ms, 2), "int8_ms": round(int8_ms, 2),
                          "speedup": round(fp32_ms / int8_ms, 2), "device": f"this CPU, INT8 by {runtime}, "
                          "FP32 by ONNX Runtime"}
        log(f"INT8 ({opts.int8_target}) speed-up over ONNX Runtime FP32 here: {fp32_ms / int8_ms:.2f}x "
            f"({int8_ms:.1f} ms by {runtime} vs {fp32_ms:.1f} ms)")
        if int8_ms > fp32_ms * SLOWER_MARGIN:
            # Graphs of MatMul/Softmax/LayerNorm (transformers) gain little from ONNX Runtime's INT8 kernels,
            # and the QDQ pairs around them cost more than the MatMuls save: say so rather than leave a user
            # deploying a graph that is slower and no more accurate.
            log(f"warning: the INT8 graph runs slower than FP32 on this CPU ({fp32_ms / int8_ms:.2f}x): deploy "
                f"the FP32 or FP16 artifact here, or time INT8 on the target (unet-edge bench)")
    model = onnx.load(str(dest))
    set_metadata(model, data)
    with atomic_path(dest) as tmp:
        onnx.save_model(model, str(tmp))
    write_meta(dest, data)
    log(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, int8 for {opts.int8_target})")


def miss_message(found, criterion, opts, near_ties: float) -> str:
    """One line: the rejected graph, its figures, why the search ended and what would help."""
    from unet_edge.export.verify import NEAR_TIE

    name = found.path.name
    added = len(found.float_layers)
    ended = (f"the search's {opts.int8_search_minutes:g}-minute budget (calibration apart) ran out while "
             f"{found.exhausted}: --int8-search-minutes gives it longer" if found.exhausted else
             f"the search ended after {found.seconds:.0f} s with no layer left that helps")
    labelled = ("" if opts.verify_data else
                "verify on frames labelled in the model's classes (--verify-data LAYOUT:PATH) so that INT8 is "
                "judged by accuracy, ")
    helps = ("calibrate on more or more varied frames (--calib-frames), relax --max-miou-drop or --max-class-drop, "
             "or use FP16" if criterion.name == "accuracy" else
             f"{labelled}lower --min-agreement, calibrate on more frames, or use FP16")
    ties = ""
    if criterion.name == "agreement" and near_ties >= 1 - criterion.min_agreement:
        # Why no layer choice helps: the model itself cannot tell these pixels' classes apart.
        ties = (f"; {100 * near_ties:.1f}% of the FP32 model's pixels are near-ties (top two logits within "
                f"{100 * NEAR_TIE:.0f}% of their spread), more than the {100 * (1 - criterion.min_agreement):.1f}% "
                "of disagreement allowed, and any rounding flips a share of them")
    return (f"INT8 ({opts.int8_target}) misses the {criterion.name} criterion ({criterion.aim()}): the best graph "
            f"found ({criterion.says(found.score)}; {added} layers in float, {100 * found.float_macs_share:.1f}% "
            f"of the MACs) is kept as {name} with its report {name}.report.json, and nothing is written under "
            f"the artifact's name; {ended}{ties}; {helps}")
