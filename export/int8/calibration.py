"""Calibration: static QDQ quantization of an FP32 graph on real frames, shaped for its target.

* ``tensorrt``: symmetric INT8 activations and per-channel symmetric weights, the form
  TensorRT's explicit quantization expects.
* ``cpu``: uint8 (asymmetric) activations and per-channel int8 weights, which ONNX Runtime's
  x86 kernels (VNNI) run fastest; symmetric activations gave no gain there.

Also the QDQ fix-ups applied after ONNX Runtime's quantizer (DepthToSpace on the quantized tensor,
unread initializers dropped) and the calibration chunk size.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import sys
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
        raise ConfigError(f"unknown calibration method {', '.join(unknown)}; choose from {', '.join(METHODS)}")
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


class FrameReader:
    """ONNX Runtime CalibrationDataReader over uint8 NHWC BGR frames, read in chunks
    (``set_range``) so that histogram calibrators never hold every frame's activations."""

    def __init__(self, frames: list[np.ndarray], input_name: str) -> None:
        self.frames, self.input_name = frames, input_name
        self.start, self.end, self.i, self.count = 0, len(frames), 0, 0

    def __len__(self) -> int:
        return len(self.frames)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end, self.i = start_index, end_index, start_index

    def get_next(self) -> dict | None:
        if self.i >= self.end:
            return None
        frame = self.frames[self.i]
        self.i += 1
        self.count += 1
        return {self.input_name: frame[None]}

    def rewind(self) -> None:
        self.i = self.start


def quantize(fp32_onnx: Path, dest: Path, frames: list[np.ndarray], target: str = "tensorrt",
             method: str = "minmax", float_nodes: list[str] | None = None, cache: Path | None = None,
             warn: bool = True) -> dict:
    """Quantize ``fp32_onnx`` into a QDQ model at ``dest``; returns what was done (for metadata).

    ``float_nodes`` stay in float (default: :func:`sensitive_convs`). With ``cache``, the first call
    calibrates and stores the ranges there, later calls with the same cache reuse them."""
    if target not in INT8_TARGETS:
        raise ConfigError(f"unknown INT8 target '{target}'; choose {', '.join(INT8_TARGETS)}")
    if not frames:
        raise ConfigError("INT8 needs calibration frames: pass --calib DIR, VIDEO or LAYOUT:PATH")
    if target == "openvino":  # OpenVINO's own quantizer (export/int8/nncf_quant.py)
        from unet_edge.export.int8.nncf_quant import quantize_openvino

        keep = sensitive_convs(fp32_onnx) if float_nodes is None else list(float_nodes)
        return quantize_openvino(fp32_onnx, dest, frames, keep, cache)
    if warn and len(frames) < MIN_CALIB:
        print(f"warning: calibrating on {len(frames)} frames; use at least {MIN_CALIB} real frames for stable "
              "INT8 ranges", file=sys.stderr)
    ort = require("onnxruntime")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise ConfigError(f"unknown calibration method '{method}'; choose {', '.join(METHODS)}")
    symmetric = target == "tensorrt"
    from unet_edge.export.int8.saturation import int8_kernels_saturate

    # 7-bit weights where this CPU's INT8 kernels clip 8-bit ones: the graph verified here is the one shipped.
    reduce = int8_kernels_saturate()
    chunk = calib_chunk(fp32_onnx)
    frames = frames[: max(chunk, len(frames) - len(frames) % chunk)]  # whole chunks
    reader = FrameReader(frames, "frame")
    keep_float = sensitive_convs(fp32_onnx) if float_nodes is None else list(float_nodes)
    reuse = {}
    import inspect

    if cache is not None and "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        reuse = {"calibration_cache_path": str(cache)}  # ONNX Runtime >= 1.23: calibrate once per method
        if Path(cache).is_file():
            reader = None
    import logging

    # The calibrator's own sessions: errors only (see runtime.runners.onnxruntime.session_options).
    ort.set_default_logger_severity(3)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger at WARNING
    with atomic_path(dest) as tmp, contextlib.redirect_stdout(io.StringIO()):
        # (ONNX Runtime's histogram calibrators print a line per chunk of frames)
        try:
            quantize_static(
                str(fp32_onnx), str(tmp), reader, quant_format=QuantFormat.QDQ, **reuse,
                # Only the network body: pre-processing and ArgMax stay exact.
                # On the CPU, Relu and Clip (ReLU6) fold into their conv's output range (uint8 zero
                # point): quantizing them removes a requantize pass per conv; residual Adds and bilinear
                # Resizes then run on uint8 too (QLinearAdd, 8-bit Resize) instead of a float round trip
                # each. TensorRT fuses Conv+Relu itself, so its QDQ stays at op inputs as its guide says.
                op_types_to_quantize=["Conv", "ConvTranspose", "MaxPool", "Concat"]
                + ([] if symmetric else ["Relu", "Clip", "Add", "Resize"]),
                nodes_to_exclude=keep_float,
                per_channel=True, reduce_range=reduce,
                activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, METHODS[method]),
                extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                               "CalibMovingAverage": method == "minmax", "QuantizeBias": not symmetric,
                               "DedicatedQDQPair": symmetric,
                               "CalibStridedMinMax": min(chunk, len(frames))},
            )
        except Exception as exc:
            raise ExportError(f"INT8 quantization failed: {str(exc).splitlines()[0][:200]}") from exc
        finally:
            root.setLevel(level)
        moved = 0 if symmetric else int8_depth_to_space(tmp)
        drop_unused_initializers(tmp)
    return {"target": target, "calibration_frames": len(frames), "calibration_chunk": chunk,
            "method": method, "float_nodes": keep_float,
            "activations": "int8 symmetric" if symmetric else "uint8 asymmetric",
            "weights": weights_record(reduce),
            "reduce_range": reduce, "int8_depth_to_space": moved}


def weights_record(reduce_range: bool) -> str:
    """How the weights were quantized, as the sidecar's ``int8.weights`` records it."""
    return "int8 symmetric per-channel" + (", 7-bit (reduce_range: this CPU's INT8 kernels saturate 8-bit weights)"
                                           if reduce_range else "")


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
        drop.append(q)
        if len(consumers[dq.output[0]]) == 1:
            drop.append(dq)
        moved += 1
    if moved:
        for n in drop:
            nodes.remove(n)
        onnx.save_model(model, str(path))
    return moved


def drop_unused_initializers(path: Path) -> int:
    """Remove the initializers no node reads (the bounds of each Clip the quantizer folded into its
    conv, the scales of removed QDQ pairs): ONNX Runtime prints a warning for each one at every load."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    used = {i for n in model.graph.node for i in n.input} | {v.name for v in [*model.graph.input, *model.graph.output]}
    stale = [t for t in model.graph.initializer if t.name not in used]
    for t in stale:
        model.graph.initializer.remove(t)
    if stale:
        onnx.save_model(model, str(path))
    return len(stale)

