"""What the INT8 passes read from an ONNX graph: inferred shapes, the PyTorch module of each conv,
its multiply-adds, roles across the network, the default float convs, and ``Probe``, a CPU session
with inner tensors as outputs (equalisation's channel ranges)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.lazy import require
from unet_edge.export.naming import module_path

CONVS = ("Conv", "ConvTranspose")


def inferred_shapes(onnx_path: Path):
    """The shape-inferred graph and its tensors' ``name -> (elem_type, dims)`` (0 for an unknown dim)."""
    onnx = require("onnx")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    return model, {v.name: (v.type.tensor_type.elem_type, [d.dim_value for d in v.type.tensor_type.shape.dim])
                   for v in [*model.graph.value_info, *model.graph.output]}


def activation_bytes(onnx_path: Path) -> int | None:
    """Bytes of every float tensor the graph computes for one frame (None where no shape is static)."""
    onnx = require("onnx")
    total = 0
    for elem_type, dims in inferred_shapes(onnx_path)[1].values():
        # the exporter's computed pads leave a few shapes unknown: skipped
        if elem_type == onnx.TensorProto.FLOAT and dims and min(dims) > 0:
            total += 4 * int(np.prod(dims))
    return total or None


def layer_macs(onnx_path: Path) -> dict[str, float]:
    """Conv node name -> multiply-adds per frame, from the shape-inferred graph."""
    model, typed = inferred_shapes(onnx_path)
    shapes = {name: dims for name, (_, dims) in typed.items()}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    macs = {}
    for n in model.graph.node:
        if n.op_type in CONVS and n.input[1] in weights:
            out = shapes.get(n.output[0], [])
            # Conv weight (cout, cin/g, kh, kw): each output pixel costs its product.
            spatial = out[2] * out[3] if len(out) == 4 and n.op_type == "Conv" else 0
            if n.op_type == "ConvTranspose":  # (cin, cout/g, kh, kw): each input pixel costs the product
                src = shapes.get(n.input[0], [])
                spatial = src[2] * src[3] if len(src) == 4 else 0
            macs[n.name] = float(np.prod(weights[n.input[1]])) * spatial
    return macs


def layer_names(onnx_path: Path, modules: Sequence[str]) -> dict[str, str]:
    """Quantizable node name -> the PyTorch module it came from."""
    onnx = require("onnx")
    known = set(modules)
    return {n.name: module_path(n.name, known) for n in onnx.load(str(onnx_path)).graph.node if n.op_type in CONVS}


def module_paths(model) -> list[str]:
    """Every named module of a torch model (``enc1.conv.0``), for naming ONNX nodes."""
    return [name for name, _ in model.named_modules() if name]


def layer_groups(layers: Sequence[str]) -> dict[str, list[str]]:
    """Layers of one role across the network, their indices wildcarded: ``encoder._blocks.#._depthwise_conv``,
    ``dec.#.convs.#.#``. Only roles of two layers or more."""
    groups: dict[str, list[str]] = {}
    for layer in layers:
        groups.setdefault(re.sub(r"(?<=\.)\d+(?=\.|$)", "#", layer), []).append(layer)
    return {key: group for key, group in groups.items() if len(group) > 1}


def sensitive_convs(path: Path) -> list[str]:
    """The first convolution (reads raw pixels) and the last two (the head that produces the
    logits ArgMax compares): quantizing these costs the most agreement for the least speed."""
    onnx = require("onnx")
    convs = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in CONVS]
    return convs[:1] + convs[-2:] if len(convs) > 3 else []


def count_qdq(path: Path) -> tuple[int, int]:
    """(QuantizeLinear, DequantizeLinear) node counts of an ONNX file."""
    onnx = require("onnx")
    nodes = onnx.load(str(path)).graph.node
    return (sum(n.op_type == "QuantizeLinear" for n in nodes), sum(n.op_type == "DequantizeLinear" for n in nodes))


class Probe:
    """An ONNX Runtime session of ``model`` (an ``onnx.ModelProto``, left unchanged) on the CPU whose
    outputs are ``tensors``."""

    def __init__(self, model, tensors: list[str]) -> None:
        onnx = require("onnx")
        ort = require("onnxruntime")
        from onnx import helper

        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        del probe.graph.output[:]
        for t in tensors:
            probe.graph.output.append(helper.make_empty_tensor_value_info(t))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name

    def run(self, frame: np.ndarray, tensors: list[str]) -> list:
        """``tensors`` for one uint8 HxWx3 ``frame`` (the graph's input, batch of one)."""
        return self.sess.run(tensors, {self.input: frame[None]})
