"""``--int8-target openvino``: INT8 by NNCF, OpenVINO's own quantizer, as an ONNX QDQ graph that OpenVINO
runs (ONNX Runtime runs it too, slower: its QDQ placement is OpenVINO's, figures in benchmarks/README.md).

Statistics once: ``nncf.quantize`` runs one pass over the calibration frames and its graph is cached;
every float-layer choice of the search is then made from that graph by surgery (the layer's inputs read
the float tensors again, its weights and bias the FP32 graph's), never by calibrating again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unet_edge.core.errors import ExportError
from unet_edge.core.io import atomic_path
from unet_edge.core.lazy import require

PRESET = "performance"  # symmetric activations: OpenVINO's CPU default; mixed measured 0.1 pts better, 5% slower
DEPLOY_SCOPE = "^/deploy/.*"  # the graph's own pre- and post-processing: exact, never quantized


def quantize_openvino(fp32_onnx: Path, dest: Path, frames: list[np.ndarray], float_nodes: list[str],
                      cache: Path | None = None) -> dict:
    """Write ``fp32_onnx`` quantized by NNCF to ``dest`` with ``float_nodes`` in float; with ``cache`` the
    NNCF graph (one statistics pass) is kept there and reused by later calls. Returns the record."""
    onnx = require("onnx")
    nncf = require("nncf")
    base_path = cache.with_name(cache.name + ".nncf.onnx") if cache is not None else None
    if base_path is not None and base_path.is_file():
        base = onnx.load(str(base_path))
    else:
        import logging

        logging.getLogger("nncf").setLevel(logging.ERROR)
        try:
            base = nncf.quantize(onnx.load(str(fp32_onnx)), nncf.Dataset(frames, lambda f: {"frame": f[None]}),
                                 preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(frames),
                                 ignored_scope=nncf.IgnoredScope(patterns=[DEPLOY_SCOPE], validate=False))
        except Exception as exc:
            raise ExportError(f"INT8 quantization by NNCF failed: {str(exc).splitlines()[0][:200]}") from exc
        if base_path is not None:
            onnx.save_model(base, str(base_path))
    model = keep_float(base, onnx.load(str(fp32_onnx)), float_nodes)
    with atomic_path(dest) as tmp:
        onnx.save_model(model, str(tmp))
    return {"target": "openvino", "calibration_frames": len(frames), "method": "nncf", "float_nodes": float_nodes,
            "tool": f"nncf {nncf.__version__}, {PRESET} preset", "activations": "int8 symmetric (NNCF)",
            "weights": "int8 symmetric per-channel (NNCF)"}


def keep_float(model, fp32, names: list[str]):
    """A copy of QDQ ``model`` in which the nodes ``names`` compute in float: each input that a
    DequantizeLinear feeds reads its float source again (an activation: the tensor before its
    QuantizeLinear; a weight or bias: the FP32 graph's initializer, as NNCF's bias correction changed it)."""
    onnx = require("onnx")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    producer = {o: n for n in g.node for o in n.output}
    inits = {t.name for t in g.initializer}
    fp32_nodes = {n.name: n for n in fp32.graph.node}
    fp32_inits = {t.name: t for t in fp32.graph.initializer}
    for node in g.node:
        if node.name not in names or node.name not in fp32_nodes:
            continue
        original = fp32_nodes[node.name]
        for i, name in enumerate(node.input):
            if i < len(original.input) and original.input[i] in fp32_inits:  # a weight or bias
                source = original.input[i]
                if source not in inits:
                    g.initializer.append(fp32_inits[source])
                    inits.add(source)
                node.input[i] = source
                continue
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[i] = q.input[0]
    return prune_unread(out)


def prune_unread(model):
    """Drop the nodes and initializers nothing reads any more (the bypassed Q/DQ pairs)."""
    g = model.graph
    outputs = {o.name for o in g.output}
    while True:
        read = {i for n in g.node for i in n.input} | outputs
        dead = [n for n in g.node if not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    read = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in read]:
        g.initializer.remove(t)
    return model
