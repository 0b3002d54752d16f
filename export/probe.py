"""A float or QDQ graph run on the CPU with some of its inner tensors as outputs, for the INT8 passes
that measure activations (equalisation's channel ranges, bias correction's channel means)."""

from __future__ import annotations

import numpy as np

from unet_edge.core.lazy import require


def spread(frames: list, k: int) -> list:
    """Up to ``k`` of ``frames``, evenly spread, first and last included: consecutive video frames
    would probe one scene several times."""
    pick = sorted(set(np.linspace(0, len(frames) - 1, min(k, len(frames))).astype(int)))
    return [frames[i] for i in pick]


class Probe:
    """An ONNX Runtime session of ``model`` (an ``onnx.ModelProto``, left unchanged) whose outputs are
    ``tensors``; ``feeds`` names initializers' replacements made graph inputs, given again at each run."""

    def __init__(self, model, tensors: list[str], feeds: dict[str, np.ndarray] | None = None) -> None:
        onnx = require("onnx")
        ort = require("onnxruntime")
        from onnx import helper

        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        del probe.graph.output[:]
        for t in tensors:
            probe.graph.output.append(helper.make_empty_tensor_value_info(t))
        for name, value in (feeds or {}).items():
            probe.graph.input.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, value.shape))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name

    def run(self, frame: np.ndarray, tensors: list[str], feeds: dict[str, np.ndarray] | None = None) -> list:
        """``tensors`` for one uint8 HxWx3 ``frame`` (the graph's input, batch of one)."""
        values = {k: v.astype(np.float32) for k, v in (feeds or {}).items()}
        return self.sess.run(tensors, {self.input: frame[None], **values})
