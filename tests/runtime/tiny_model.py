"""A tiny real ONNX model with a unet-edge sidecar, built without torch: for runtime tests in
environments that only have the runtime (the system-OpenCV venv that runs the GStreamer tests).
Like an export, it carries the same contract in its ``metadata_props`` (``embed=False``: not).

The graph keeps the deploy contract (uint8 NHWC BGR frame in, uint8 class ids out): the class of
a pixel is the floor of its mean intensity / 24, so ids 0-10 of the CamVid classes.
"""

from __future__ import annotations

import json
from pathlib import Path

from unet_edge.core.artifact import ONNX_KEY, stamp, write_meta

CAMVID = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
          "Bicyclist"]
PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
           [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]]


def tiny_model(dest: Path, size: tuple[int, int] = (64, 96), embed: bool = True, dynamic: bool = False) -> Path:
    """Writes the model (and its sidecar) at ``dest``: fixed at 1x``size``, or with ``dynamic``
    batch, height and width (``size`` is then its training size)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = size
    n, hh, ww = ("N", "H", "W") if dynamic else (1, h, w)
    nodes = [
        helper.make_node("Cast", ["frame"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f", "axis"], ["m"], keepdims=0),
        helper.make_node("Div", ["m", "step"], ["d"]),
        helper.make_node("Floor", ["d"], ["c"]),
        helper.make_node("Cast", ["c"], ["mask"], to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("frame", TensorProto.UINT8, [n, hh, ww, 3])],
        [helper.make_tensor_value_info("mask", TensorProto.UINT8, [n, hh, ww])],
        [numpy_helper.from_array(np.array([3], np.int64), "axis"), numpy_helper.from_array(np.float32(24.0), "step")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="unet-edge-tests")
    model.ir_version = 8  # readable by older ONNX Runtime releases too
    onnx.checker.check_model(model, full_check=True)
    meta = {
        "classes": CAMVID, "palette": PALETTE, "ignore_index": 11, "precision": "fp32", "train_input_size": [h, w],
        "input": {"name": "frame", "shape": [n, hh, ww, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                  "multiple_of": 1},
        "outputs": [{"name": "mask", "shape": [n, hh, ww], "dtype": "uint8", "semantics": "class_ids"}]}
    if embed:  # as export's set_metadata does
        helper.set_model_props(model, {ONNX_KEY: json.dumps(stamp(meta), sort_keys=True)})
    onnx.save(model, str(dest))
    write_meta(dest, meta)
    return dest
