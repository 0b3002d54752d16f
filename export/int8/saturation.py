"""The INT8 saturation probe's graph, built with ``onnx.helper``.

The probe itself (``int8_kernels_saturate``: does this CPU's uint8 x int8 conv clip 8-bit weights?) lives
in the runtime, ``unet_edge.runtime.runners.int8_probe``, which stores this graph serialized because it
may not import ``onnx``; the export quantizes to 7-bit weights where it answers True.
"""

from __future__ import annotations

import numpy as np

from unet_edge.runtime.runners.int8_probe import CHANNELS, EXACT, int8_kernels_saturate

__all__ = ["int8_kernels_saturate", "probe_model"]


def probe_model():
    """The probe's one-QLinearConv ``onnx.ModelProto``, whose uint8 output is ``EXACT`` unless it saturates."""
    from onnx import TensorProto, helper, numpy_helper

    y_scale = CHANNELS * 255 * 127 / float(EXACT)
    inits = [numpy_helper.from_array(np.array(v, dt), n) for n, v, dt in (
        ("xs", 1.0, np.float32), ("xz", 0, np.uint8), ("w", np.full((1, CHANNELS, 1, 1), 127), np.int8),
        ("ws", 1.0, np.float32), ("wz", 0, np.int8), ("ys", y_scale, np.float32), ("yz", 0, np.uint8))]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                                            [1, CHANNELS, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 1, 2, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model
