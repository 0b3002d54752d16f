"""Calibration: static QDQ quantization of an FP32 graph on real frames, shaped for its target.

* ``tensorrt``: symmetric INT8 activations and per-channel symmetric weights, the form
  TensorRT's explicit quantization expects.
* ``cpu``: uint8 (asymmetric) activations and per-channel int8 weights, which ONNX Runtime's
  x86 kernels (VNNI) run fastest; symmetric activations gave no gain there.

Also the QDQ fix-up applied after ONNX Runtime's quantizer (DepthToSpace on the quantized tensor) and
the calibration chunk size. The ranges come from one statistics pass (:mod:`.statistics`).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import INT8_TARGETS
from unet_edge.core.errors import ConfigError, ExportError
from unet_edge.core.io import atomic_path
from unet_edge.core.lazy import require
from unet_edge.export.int8.graph_facts import activation_bytes, sensitive_convs

# name -> ONNX Runtime's CalibrationMethod member; the search tries them in this order
METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
MIN_CALIB = 300


# Frames whose activations the calibrator holds at once: the histogram calibrators' peak memory grows
# with the chunk, their time does not (figures in benchmarks/README.md, "INT8 calibration memory").
CALIB_CHUNK = 4
CALIB_CHUNK_BYTES = 1.2e9  # fewer frames a chunk for models whose float activations a frame are large


def parse_methods(text: str | None) -> tuple[str, ...]:
    """``--calib-method`` (names separated by commas or spaces) as a tuple; None: every method."""
    if not text:
        return tuple(METHODS)
    methods = tuple(m.strip() for m in re.split(r"[,\s]+", text) if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"--calib-method {text}: unknown method {', '.join(unknown)}; choose from "
                          f"{', '.join(METHODS)}")
    return methods


def calib_chunk(onnx_path: Path) -> int:
    """Frames per calibration chunk: at most 4, fewer where a frame's activations are large."""
    stat = Path(onnx_path).stat()
    per_frame = _activation_bytes_of(str(onnx_path), stat.st_mtime_ns, stat.st_size)
    return CALIB_CHUNK if not per_frame else max(1, min(CALIB_CHUNK, int(CALIB_CHUNK_BYTES // per_frame)))


@functools.lru_cache(maxsize=8)
def _activation_bytes_of(path: str, _mtime_ns: int, _size: int) -> int | None:
    # Per file version: the INT8 search quantizes the same graph for every trial, and shape
    # inference of a width-32 U-Net takes about a second.
    return activation_bytes(Path(path))


def quantized_ops(target: str) -> tuple[str, ...]:
    """The op types ONNX Runtime's quantizer quantizes for ``target``. Only the network body:
    pre-processing and ArgMax stay exact. On the CPU, Relu and Clip (ReLU6) fold into their conv's
    output range (uint8 zero point): quantizing them removes a requantize pass per conv; residual Adds
    and bilinear Resizes then run on uint8 too (QLinearAdd, 8-bit Resize) instead of a float round trip
    each. TensorRT fuses Conv+Relu itself, so its QDQ stays at op inputs as its guide says."""
    return ("Conv", "ConvTranspose", "MaxPool", "Concat") + (() if target == "tensorrt" else
                                                              ("Relu", "Clip", "Add", "Resize"))


def quantize(fp32_onnx: Path, dest: Path, frames: list[np.ndarray], target: str = "tensorrt",
             method: str = "minmax", float_nodes: list[str] | None = None, cache: Path | None = None,
             warn: bool = True) -> dict:
    """Quantize ``fp32_onnx`` into a QDQ model at ``dest``; returns what was done (for metadata).

    ``float_nodes`` stay in float (default: :func:`sensitive_convs`), by surgery on the graph quantized
    whole (:mod:`.surgery`). ``cache`` (a path prefix) keeps the statistics of one pass over the frames
    (:mod:`.statistics`: every method's ranges) and each method's whole INT8 graph, for later calls."""
    if target not in INT8_TARGETS:
        raise ConfigError(f"unknown INT8 target '{target}'; choose {', '.join(INT8_TARGETS)}")
    if not frames:
        # --calib gave none (export's plan refuses --calib-frames below 1 before this)
        raise ConfigError("INT8 needs calibration frames: --calib gave none")
    keep = sensitive_convs(fp32_onnx) if float_nodes is None else list(float_nodes)
    if cache is None:
        with tempfile.TemporaryDirectory(dir=Path(dest).parent, prefix=".int8-") as tmp:
            return quantize(fp32_onnx, dest, frames, target, method, keep, Path(tmp) / "graph", warn)
    if target == "openvino":  # OpenVINO's own quantizer (export/int8/nncf_quant.py)
        from unet_edge.export.int8.nncf_quant import quantize_openvino

        return quantize_openvino(fp32_onnx, dest, frames, keep, cache)
    if method not in METHODS:
        raise ConfigError(f"unknown calibration method '{method}'; choose {', '.join(METHODS)}")
    onnx = require("onnx")
    from unet_edge.export.int8.surgery import keep_float

    whole = cache.with_name(f"{cache.name}-{method}.int8.onnx")
    record_path = whole.with_suffix(".json")
    if not whole.is_file():
        record = _quantize_whole(fp32_onnx, whole, frames, target, method, cache, warn)
        record_path.write_text(json.dumps(record))
    record = json.loads(record_path.read_text())
    with atomic_path(dest) as tmp:
        onnx.save_model(keep_float(onnx.load(str(whole)), onnx.load(str(fp32_onnx)), keep,
                                   frozenset(quantized_ops(target))), str(tmp))
    return {**record, "float_nodes": keep}


def _quantize_whole(fp32_onnx: Path, dest: Path, frames: list[np.ndarray], target: str, method: str,
                    prefix: Path, warn: bool) -> dict:
    """``fp32_onnx`` quantized whole (no float layer) by ONNX Runtime under ``method``'s ranges, which the
    one statistics pass under ``prefix`` gives (run here if it has not been)."""
    ort = require("onnxruntime")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from unet_edge.export.int8.saturation import int8_kernels_saturate
    from unet_edge.export.int8.statistics import cache_path, collect

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise ConfigError(f"INT8 export needs onnxruntime >= 1.23 (this is {ort.__version__}): pip install -U "
                          "onnxruntime")
    symmetric = target == "tensorrt"
    op_types = list(quantized_ops(target))
    chunk = calib_chunk(fp32_onnx)
    ranges = cache_path(prefix, method)
    used = json.loads(prefix.with_suffix(".frames").read_text()) if ranges.is_file() else None
    if used is None:
        used = collect(fp32_onnx, frames, op_types, chunk, prefix)
        prefix.with_suffix(".frames").write_text(json.dumps(used))
        if warn and len(frames) < MIN_CALIB:
            print(f"warning: calibrating on {len(frames)} frames; use at least {MIN_CALIB} real frames for stable "
                  "INT8 ranges", file=sys.stderr)
    # 7-bit weights where this CPU's INT8 kernels clip 8-bit ones: the graph verified here is the one shipped.
    reduce = int8_kernels_saturate()
    import logging

    # The calibrator's own sessions: errors only (see runtime.runners.onnxruntime.session_options).
    ort.set_default_logger_severity(3)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger at WARNING
    try:
        quantize_static(
            str(fp32_onnx), str(dest), None, quant_format=QuantFormat.QDQ, calibration_cache_path=str(ranges),
            op_types_to_quantize=op_types, per_channel=True, reduce_range=reduce,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, METHODS[method]),
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                           "QuantizeBias": not symmetric, "DedicatedQDQPair": symmetric})
    except Exception as exc:
        raise ExportError(f"INT8 quantization failed: {str(exc).splitlines()[0][:200]}") from exc
    finally:
        root.setLevel(level)
    moved = 0 if symmetric else int8_depth_to_space(dest)
    return {"target": target, "calibration_frames": used, "calibration_chunk": chunk, "method": method,
            "activations": "int8 symmetric" if symmetric else "uint8 asymmetric", "int8_depth_to_space": moved,
            "weights": weights_record(reduce), "weight_bits": weight_bits(reduce), "reduce_range": reduce}


def weights_record(reduce_range: bool) -> str:
    """How the weights were quantized, as the sidecar's ``int8.weights`` says it in words."""
    return "int8 symmetric per-channel" + (", 7-bit (reduce_range: this CPU's INT8 kernels saturate 8-bit weights)"
                                           if reduce_range else "")


def weight_bits(reduce_range: bool) -> int:
    """The sidecar's ``int8.weight_bits``: what the runtime's saturation warning reads
    (``unet_edge.runtime.runners.int8_probe``)."""
    return 7 if reduce_range else 8


def int8_depth_to_space(path: Path) -> int:
    """Run each DepthToSpace on the quantized tensor: DQ -> DepthToSpace -> Q becomes
    DepthToSpace -> DQ. Exact, since DepthToSpace only moves values and the scale is per
    tensor; the quantizer has no QDQ rule for it and would leave a float round trip per
    up-sampling. Returns how many it moved."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    nodes = model.graph.node
    producer = {o: n for n in nodes for o in n.output}
    consumers: dict[str, list] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    drop, moved = [], 0
    for n in nodes:
        if n.op_type != "DepthToSpace":
            continue
        dq, after = producer.get(n.input[0]), consumers.get(n.output[0], [])
        if (dq is None or dq.op_type != "DequantizeLinear" or len(after) != 1
                or after[0].op_type != "QuantizeLinear"):
            continue
        q = after[0]
        downstream = consumers.get(q.output[0], [])
        if not downstream or any(d.op_type != "DequantizeLinear" for d in downstream):
            continue
        for d in downstream:  # values are unchanged, so they keep the upstream scale and zero point
            d.input[1], d.input[2] = dq.input[1], dq.input[2]
        n.input[0], n.output[0] = dq.input[0], q.output[0]
        n.name += "/int8"  # not the FP32 graph's op any more (export/int8/surgery.py tells them apart)
        drop.append(q)
        if len(consumers[dq.output[0]]) == 1:
            drop.append(dq)
        moved += 1
    if moved:
        for n in drop:
            nodes.remove(n)
        onnx.save_model(model, str(path))
    return moved
