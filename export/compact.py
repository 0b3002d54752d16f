"""Half-size storage of an FP32 graph: its large float weights stored as FP16 initializers, each read
through a Cast to FP32, so the graph still computes in FP32 (ONNX Runtime and OpenVINO fold the casts
at load; TensorRT below 10.12, every current JetPack, builds its FP16 plans from such a graph). Used
for the shipped model, where the file's size is the wheel's; kept only where the masks stay equal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unet_edge.core.io import atomic_path
from unet_edge.core.lazy import require

MIN_ELEMENTS = 256  # smaller tensors (biases, scales) stay FP32: nothing to save, and exact


def fp16_storage(src: Path, dest: Path) -> int:
    """Write ``src`` to ``dest`` with its FP32 initializers of at least MIN_ELEMENTS as FP16 plus a Cast
    each; metadata_props are kept. Returns how many were converted."""
    onnx = require("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts, done = [], 0
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < MIN_ELEMENTS:
            continue
        value = numpy_helper.to_array(init)
        if np.abs(value).max(initial=0) > np.finfo(np.float16).max:
            continue  # would overflow: keep it exact
        half = numpy_helper.from_array(value.astype(np.float16), f"{init.name}__fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                           name=f"{init.name}__to_fp32"))
        done += 1
    for i, node in enumerate(casts):  # before their readers: a graph's nodes are in topological order
        graph.node.insert(i, node)
    onnx.checker.check_model(model)
    with atomic_path(dest) as tmp:
        onnx.save_model(model, str(tmp))
    return done
