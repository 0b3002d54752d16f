"""INT8: static QDQ quantization calibrated on real frames, shaped for its target.

* ``tensorrt``: symmetric INT8 activations and per-channel symmetric weights, the form
  TensorRT's explicit quantization expects.
* ``cpu``: uint8 (asymmetric) activations and per-channel int8 weights, which ONNX Runtime's
  x86 kernels (VNNI) run fastest; symmetric activations gave no gain there.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from unet_edge._lazy import require
from unet_edge.errors import ConfigError, ExportError
from unet_edge.io import atomic_path

TARGETS = ("tensorrt", "cpu")
MIN_CALIB = 300


class FrameReader:
    """ONNX Runtime CalibrationDataReader over uint8 NHWC BGR frames."""

    def __init__(self, frames: Iterator[np.ndarray], input_name: str) -> None:
        self.frames = iter(frames)
        self.input_name = input_name
        self.count = 0

    def get_next(self) -> dict | None:
        frame = next(self.frames, None)
        if frame is None:
            return None
        self.count += 1
        return {self.input_name: frame[None]}

    def rewind(self) -> None:  # the quantizer makes a single pass
        pass


def quantize(fp32_onnx: Path, dest: Path, frames: list[np.ndarray], target: str = "tensorrt",
             method: str = "minmax") -> dict:
    """Quantize ``fp32_onnx`` into a QDQ model at ``dest``; returns what was done (for metadata)."""
    if target not in TARGETS:
        raise ConfigError(f"unknown INT8 target '{target}'; choose {' or '.join(TARGETS)}")
    if not frames:
        raise ConfigError("INT8 needs calibration frames: pass --calib DIR or --calib-dataset camvid:PATH")
    if len(frames) < MIN_CALIB:
        print(f"warning: calibrating on {len(frames)} frames; use at least {MIN_CALIB} real frames for stable "
              "INT8 ranges", file=sys.stderr)
    require("onnxruntime")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ConfigError(f"unknown calibration method '{method}'; choose {', '.join(methods)}")
    symmetric = target == "tensorrt"
    reader = FrameReader(iter(frames), "frame")
    keep_float = sensitive_convs(fp32_onnx)
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger at WARNING
    with atomic_path(dest) as tmp:
        try:
            quantize_static(
                str(fp32_onnx), str(tmp), reader, quant_format=QuantFormat.QDQ,
                # Only the network body: pre-processing and ArgMax stay exact.
                op_types_to_quantize=["Conv", "ConvTranspose", "MaxPool", "Concat"],
                nodes_to_exclude=keep_float,
                per_channel=True,
                activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                               "CalibMovingAverage": method == "minmax", "QuantizeBias": not symmetric,
                               "DedicatedQDQPair": symmetric},
            )
        except Exception as exc:
            raise ExportError(f"INT8 quantization failed: {str(exc).splitlines()[0][:200]}") from exc
        finally:
            root.setLevel(level)
    return {"target": target, "calibration_frames": reader.count, "method": method, "float_nodes": keep_float,
            "activations": "int8 symmetric" if symmetric else "uint8 asymmetric",
            "weights": "int8 symmetric per-channel"}


def sensitive_convs(path: Path) -> list[str]:
    """The first convolution (reads raw pixels) and the last two (the head that produces the
    logits ArgMax compares): quantizing these costs the most agreement for the least speed."""
    onnx = require("onnx")
    convs = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in ("Conv", "ConvTranspose")]
    return convs[:1] + convs[-2:] if len(convs) > 3 else []


def count_qdq(path: Path) -> tuple[int, int]:
    """(QuantizeLinear, DequantizeLinear) node counts of an ONNX file."""
    onnx = require("onnx")
    nodes = onnx.load(str(path)).graph.node
    return (sum(n.op_type == "QuantizeLinear" for n in nodes), sum(n.op_type == "DequantizeLinear" for n in nodes))
