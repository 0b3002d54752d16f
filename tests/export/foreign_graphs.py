"""Foreign ONNX graphs the export tests wrap: small torch modules exported with torch.onnx, and one
built by hand at another opset, as a tool other than ours would write it."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

SIZE = (64, 96)
CLASSES = 11  # camvid


class Net(nn.Module):
    """NCHW float in, logits out, at ``stride`` (a SegFormer-like head gives 1/4)."""

    def __init__(self, stride: int = 1, classes: int = CLASSES, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.stem = nn.Conv2d(3, 16, 3, stride=stride, padding=1)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)))


class Nhwc(Net):
    """Keras style: NHWC in and out (the Transposes the exporter emits)."""

    def forward(self, x):
        return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class Ids(Net):
    def forward(self, x):
        return super().forward(x).argmax(1)


def torch_graph(path, module: nn.Module, shape=(1, 3, *SIZE), dynamic: bool = False):
    axes = {"image": {0: "n", 2: "h", 3: "w"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), torch.zeros(shape), str(path), opset_version=17, dynamo=False,
                          input_names=["image"], output_names=["out"], dynamic_axes=axes)
    return path


def hand_graph(path, classes: int = CLASSES, opset: int = 13):
    """'An ONNX exported by a tool other than ours': unnamed nodes, a dynamic NCHW input, opset 13,
    logits at 1/2 (a strided conv, then a HardSigmoid a PyTorch export would not emit)."""
    rng = np.random.default_rng(3)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (classes, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["pixel_values", "w1", "b1"], ["t1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("HardSigmoid", ["t1"], ["t2"]),
             helper.make_node("Conv", ["t2", "w2"], ["logits"])]
    graph = helper.make_graph(
        nodes, "tf2onnx_like", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["b", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", classes, "h2", "w2"])], [w1, b1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="not-unet-edge",
                              ir_version=7)
    onnx.save(model, str(path))
    return path
