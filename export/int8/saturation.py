"""Whether this machine's ONNX Runtime INT8 convolution saturates with full-range weights.

x86 CPUs without VNNI (AVX2 only, e.g. AMD Zen 2) multiply uint8 activations by int8 weights with
``vpmaddubsw``, which adds pairs of products into int16 and clips them: with 8-bit weights a conv's sums
saturate and INT8 masks lose agreement (on a Zen 2 EPYC, a hand-built graph 98.5% where VNNI machines
give 99.9%; onnxruntime's quantization guide advises ``reduce_range`` there). Measured, not read from
the CPU flags: one QLinearConv whose exact result is known, run once per process.
"""

from __future__ import annotations

import functools

import numpy as np

CHANNELS = 8  # four int16 pairs: 4 x 2 x 255 x 127 overflows int16 in every pair


@functools.lru_cache(maxsize=1)
def int8_kernels_saturate() -> bool:
    """True where a uint8 x int8 conv on ONNX Runtime's CPU provider clips its pairwise sums."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    exact = CHANNELS * 255 * 127
    y_scale = exact / 200.0  # the exact sum lands on 200; a saturated one near 101
    inits = [numpy_helper.from_array(np.array(v, dt), n) for n, v, dt in (
        ("xs", 1.0, np.float32), ("xz", 0, np.uint8), ("w", np.full((1, CHANNELS, 1, 1), 127), np.int8),
        ("ws", 1.0, np.float32), ("wz", 0, np.int8), ("ys", y_scale, np.float32), ("yz", 0, np.uint8))]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                                            [1, CHANNELS, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 1, 2, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": np.full((1, CHANNELS, 2, 2), 255, np.uint8)})[0]
    return bool(abs(int(y.ravel()[0]) - 200) > 2)
