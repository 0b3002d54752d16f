"""FP16 without surprises, for every model form: layers whose FP16 output overflows or drifts stay in
FP32. Each convolution of the FP32 deploy graph is judged on its own, fed the FP32 graph's own input
to it, and kept in FP32 where its FP16 output overflows or drifts by more than ``FP16_MAX_ERROR`` of
its FP32 output's range. Those layers run as FP32 islands in the FP16 graph (:mod:`.deploy_graph`
converts it, and saturates an island's output to the FP16 range where FP16 layers read it), which
TensorRT >= 10.12 builds strongly typed; older releases pin them with precision constraints.

FP16 is emulated in FP32 through ONNX Runtime, one single-node graph per convolution: input, weights
and bias rounded to FP16, the sum accumulated in FP32 (as TensorRT's and cuDNN's FP16 convolutions
accumulate), the output rounded to FP16. The CPU provider has no FP16 convolution on every build,
and this is the arithmetic the GPU does. A convolution whose weights are not initializers (computed
in the graph) is judged by its output's magnitude alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unet_edge.core.lazy import require
from unet_edge.export.thresholds import FP16_MAX, FP16_MAX_ERROR

ISLAND_FRAMES = 8  # frames on which each conv is measured


def fp16_islands(fp32, frames: list[np.ndarray], modules: Sequence[str] = ()) -> tuple[list[str], dict, dict]:
    """The convolutions of the FP32 deploy graph (``onnx.ModelProto``) to keep in FP32 (node names);
    what was done (for the sidecar); each layer's overflow, drift and peak (for the report). Layers are
    named by their ``modules`` (a PyTorch model's module paths) where given, else by the node's scope."""
    from unet_edge.export.int8.graph_facts import Probe
    from unet_edge.export.naming import module_path

    known = set(modules)
    convs = [n for n in fp32.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    weights = {t.name: t for t in fp32.graph.initializer}
    tensors = list(dict.fromkeys([t for n in convs for t in (n.input[0], n.output[0])]))
    probe = Probe(fp32, tensors)
    seen = [dict(zip(tensors, probe.run(f, tensors))) for f in frames[:ISLAND_FRAMES]]
    report: dict[str, dict] = {}
    keep = []
    for conv in convs:
        refs = [s[conv.output[0]] for s in seen]
        peak = max(float(np.abs(r).max()) for r in refs)
        row = {"overflow": not peak <= FP16_MAX, "error": None, "peak": round(peak, 2)}  # nan is an overflow
        single = _single_conv(conv, weights) if all(w in weights for w in conv.input[1:] if w) else None
        if single is not None and not row["overflow"]:
            worst = 0.0
            for s, ref in zip(seen, refs):
                y = single.run(None, {"x": _round16(s[conv.input[0]])})[0]
                half = y.astype(np.float16)
                if not np.isfinite(half).all():
                    row["overflow"] = True
                span = float(ref.max() - ref.min()) or 1.0
                worst = max(worst, float(np.nan_to_num(np.abs(half.astype(np.float32) - ref), nan=np.inf).max())
                            / span)
            row["error"] = round(worst, 5)
        report[module_path(conv.name, known)] = row
        if row["overflow"] or (row["error"] or 0.0) > FP16_MAX_ERROR:
            keep.append(conv.name)
    done = {"route": "ONNX float16 conversion of the body", "fp32_ops": ["pre-processing", "ArgMax input"],
            "fp32_layers": [module_path(n, known) for n in keep]}
    return keep, done, report


def _round16(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # an overflow to inf is what is measured
        return a.astype(np.float16).astype(np.float32)


def _single_conv(node, weights: dict):
    """An ONNX Runtime session of ``node`` alone, its weights rounded to FP16 (kept in FP32)."""
    onnx = require("onnx")
    ort = require("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    names = ["x"] + [f"p{i}" for i in range(1, len(node.input))]
    inits = [numpy_helper.from_array(_round16(numpy_helper.to_array(weights[src]).astype(np.float32)), name)
             for name, src in zip(names[1:], node.input[1:]) if src]
    inputs = [n if src else "" for n, src in zip(names, node.input)]
    single = helper.make_node(node.op_type, inputs, ["y"], name="conv")
    single.attribute.extend(node.attribute)
    graph = helper.make_graph([single], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
