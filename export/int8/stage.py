"""The INT8 stage of an export: calibrate on real frames, search for the float layers the
agreement target needs, write the QDQ graph with its sidecar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import load_meta, write_meta
from unet_edge.core.errors import ConfigError, ExportError
from unet_edge.core.sysinfo import PeakRss

CONTRACT = ("target", "activations", "weights")  # what the sidecar keeps of the quantizer's record


@dataclass(frozen=True)
class Int8Reference:
    """What the INT8 search aims at: the verification frames, the FP32 model's masks on them, their
    labels (None without), and the share of near-tie pixels in those masks."""

    frames: list[np.ndarray]
    masks: list[np.ndarray]
    labels: list[np.ndarray] | None
    near_ties: float


def int8_path(out: Path, stem: str, target: str) -> Path:
    """The two flavours get distinct names: TensorRT's ``best.int8.onnx``, ONNX Runtime's ``best.int8-cpu.onnx``."""
    return out / (f"{stem}.int8-cpu.onnx" if target == "cpu" else f"{stem}.int8.onnx")


def write_int8(dest: Path, fp32: Path, meta: dict, size, ckpt: dict, opts, modules: list[str],
               reference: Int8Reference | None, log: Callable[[str], None],
               source: Path | None = None) -> dict:
    """Quantize ``source`` (default: the FP32 artifact) into ``dest``, with ``fp32``'s metadata; returns
    what the stage measured, for the report (:mod:`unet_edge.export.report`).

    With ``reference`` the float layers are searched until ``opts.min_agreement`` and, with labels,
    ``opts.max_miou_drop``; without, the default float layers are kept."""
    import onnx

    from unet_edge.bench.speed import interleaved_ms
    from unet_edge.core.io import atomic_path
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.int8.calibration import parse_methods, quantize
    from unet_edge.export.int8.search import SearchOptions, search
    from unet_edge.export.onnx_export import set_metadata
    from unet_edge.export.verify import NEAR_TIE

    if opts.logits:
        raise ConfigError("--int8 with --logits is not supported: quantize the class-id graph")
    if not opts.calib:
        raise ConfigError("--int8 needs real calibration frames: --calib DIR|VIDEO or --calib LAYOUT:PATH "
                          "(never random data)")
    methods = parse_methods(opts.calib_method)
    frames, _, _ = load_frames(opts.calib, size, opts.calib_frames, "train", ckpt["num_classes"])
    log(f"calibrating INT8 ({opts.int8_target}) on {len(frames)} frames from {opts.calib}")
    graph = source or fp32
    peak = PeakRss()
    if reference is None:
        with peak:
            quant = quantize(graph, dest, frames, opts.int8_target, methods[0])
        extra = {}
    else:
        labels, near_ties = reference.labels, reference.near_ties
        drop = miou_drop_against(reference.masks, labels, len(ckpt["classes"])) if labels else None
        log(f"  FP32 near-ties (top two logits within {100 * NEAR_TIE:.0f}% of their spread): "
            f"{100 * near_ties:.2f}% of the verification pixels")
        try:
            with peak:
                quant, found = search(graph, dest, frames, reference.frames, reference.masks, modules,
                                      SearchOptions(opts.int8_target, opts.min_agreement, opts.max_miou_drop, drop,
                                                    methods, log=log), contract_of=fp32)
        except ExportError as e:
            if near_ties < 1 - opts.min_agreement:
                raise
            # Say why no layer choice helps: the model itself cannot tell these pixels' classes apart.
            raise ExportError(f"{e}. {100 * near_ties:.1f}% of the FP32 model's pixels are near-ties (top two "
                              f"logits within {100 * NEAR_TIE:.0f}% of their spread), more than the "
                              f"{100 * (1 - opts.min_agreement):.1f}% of disagreement allowed, and any rounding "
                              "flips a share of them: judge INT8 by the mIoU change against labels and lower "
                              "--min-agreement, or retrain with BatchNorm (BN U-Nets have 0.2-0.6%) or, with class "
                              "weights, with the logit adjustment on (train --logit-adjust 0.5, the default: it "
                              "took the U-Nets without BN from 3-5% to 2%)") from None
        quant["search"] = {"target_agreement": opts.min_agreement, "agreement": found.agreement,
                           "fp32_near_ties": round(near_ties, 5),
                           "max_miou_drop": opts.max_miou_drop if labels else None,
                           "miou_drop": found.miou_drop if labels else None,
                           "float_macs_share": round(found.float_macs_share, 4),
                           "steps": found.tried, "seconds": round(found.seconds, 1)}
        extra = {"float_layers": found.float_layers}
        equalised = len(quant.get("equalized_activations") or [])
        log(f"INT8 ({found.method} calibration" + (f", {equalised} activations equalised" if equalised else "")
            + f"): {100 * found.agreement:.2f}% agreement with "
            f"{len(found.float_layers)} layers in float: {', '.join(found.float_layers) or 'none'}")
    # Calibration and search, frames included: the figure a Jetson's shared memory must hold.
    quant["peak_rss_mb"] = {"mb": round(peak.mb), "scope": "int8 stage" if peak.scoped else "process lifetime"}
    log(f"INT8 stage peak memory: {peak.mb / 1e3:.2f} GB" + ("" if peak.scoped else " (process lifetime peak)"))
    data = {**load_meta(fp32).to_dict(), **meta, "precision": "int8", **extra,
            "int8": {k: quant[k] for k in CONTRACT}}
    if source is not None:
        data["subpixel"] = True
    data.pop("artifact_sha256", None)
    if opts.int8_target == "cpu":
        # What the float layers leave of INT8's point, on this CPU (TensorRT's is measured on the target).
        fp32_ms, int8_ms = interleaved_ms(fp32, dest, frames[0])
        quant["speed"] = {"fp32_ms": round(fp32_ms, 2), "int8_ms": round(int8_ms, 2),
                          "speedup": round(fp32_ms / int8_ms, 2), "device": "this CPU, ONNX Runtime"}
        log(f"INT8 (cpu) speed-up over FP32 in ONNX Runtime here: {fp32_ms / int8_ms:.2f}x "
            f"({int8_ms:.1f} vs {fp32_ms:.1f} ms)")
    model = onnx.load(str(dest))
    set_metadata(model, data)
    with atomic_path(dest) as tmp:
        onnx.save_model(model, str(tmp))
    write_meta(dest, data)
    log(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, int8 for {opts.int8_target})")
    return {"int8": {k: v for k, v in quant.items() if k not in CONTRACT}}


def miou_drop_against(ref: list[np.ndarray], labels: list[np.ndarray], n: int):
    """A function of a graph's masks: the FP32 masks' mIoU against ``labels`` minus theirs, scored as the
    precision gate scores them (at the labels' resolution)."""
    from unet_edge.export.verify import scores_at_labels

    base = scores_at_labels(ref, labels, n).miou
    return lambda masks: base - scores_at_labels(masks, labels, n).miou
