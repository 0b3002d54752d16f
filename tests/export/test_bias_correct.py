"""Bias correction removes the mean shift that rounding weights adds to a conv's output channels."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from unet_edge.export.bias_correct import channel_means, correct_biases
from unet_edge.export.graph import DeployModule
from unet_edge.export.int8 import quantize
from unet_edge.export.onnx_export import export_onnx

pytestmark = pytest.mark.slow


class Drifting(nn.Module):
    """`mid`'s weights are one large tap per output channel and many small positive ones, each under half
    an INT8 step of that channel's scale: quantized, the small ones round to zero, and every output
    channel loses the same positive share of its input, a shift that no rounding of activations undoes."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem, self.mid, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), \
            nn.Conv2d(8, 4, 1)
        self.stem.weight.data = torch.randn(self.stem.weight.shape, generator=g) * 0.4
        self.mid.weight.data.fill_(0.003)
        self.mid.weight.data[:, 0, 1, 1] = 1.0
        self.head.weight.data = torch.randn(self.head.weight.shape, generator=g) * 0.4
        for m in (self.stem, self.mid, self.head):
            m.bias.data.zero_()

    def forward(self, x):
        return self.head(torch.relu(self.mid(torch.relu(self.stem(x)))))


def _mid_output(path) -> str:
    import onnx

    return next(n.output[0] for n in onnx.load(str(path)).graph.node if n.op_type == "Conv" and "mid" in n.name)


@pytest.mark.parametrize("target", ["cpu", "tensorrt"])
def test_corrected_biases_remove_the_drift(tmp_path, target) -> None:
    deploy = DeployModule(Drifting().eval(), [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    src = export_onnx(deploy, tmp_path / "drift.onnx", (32, 48))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (32, 48, 3), np.uint8) for _ in range(8)]

    mid = _mid_output(src)
    want = channel_means(src, [mid], frames)[mid]
    quantize(src, tmp_path / "plain.int8.onnx", frames, target, "minmax", float_nodes=[], warn=False)
    # the CPU flavour folds the Relu into the conv's output quantizer: its tensor takes the Relu's name
    q_mid = _mid_output(tmp_path / "plain.int8.onnx")
    before = np.abs(channel_means(tmp_path / "plain.int8.onnx", [q_mid], frames)[q_mid] - want)
    assert before.min() > 0.05 * np.abs(want).mean()  # the drift is there to remove

    corrected = correct_biases(src, tmp_path / "plain.int8.onnx", tmp_path / "corrected.onnx", frames,
                               log=lambda _: None)
    assert corrected == sorted(n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv")
    after = np.abs(channel_means(tmp_path / "corrected.onnx", [q_mid], frames)[q_mid] - want)
    assert after.max() < 0.05 * before.mean()
    q = onnx.load(str(tmp_path / "corrected.onnx"))
    biases = [n.input[2] for n in q.graph.node if n.op_type == "Conv"]
    assert len(set(biases)) == 3  # each conv its own bias: the exporter shared the zero ones

@pytest.mark.parametrize("target", ["cpu", "tensorrt"])
def test_the_search_corrects_biases_before_it_leaves_layers_in_float(tmp_path, target) -> None:
    from unet_edge.core.artifact import write_meta
    from unet_edge.export.int8_layers import module_paths
    from unet_edge.export.int8_search import search
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    model = Drifting().eval()
    meta = {"classes": list("abcd"), "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
            "ignore_index": 255, "precision": "fp32", "train_input_size": [32, 48],
            "input": {"name": "frame", "shape": [1, 32, 48, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR"},
            "outputs": [{"name": "mask", "shape": [1, 32, 48], "dtype": "uint8", "semantics": "class_ids"}]}
    src = export_onnx(DeployModule(model, [0.5] * 3, [0.25] * 3), tmp_path / "drift.onnx", (32, 48), meta=meta)
    write_meta(src, meta)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (32, 48, 3), np.uint8) for _ in range(16)]
    with OnnxRuntimeRunner(src) as r:
        ref = [r.infer(f) for f in frames]

    def run(correct_bias: bool):
        return search(src, tmp_path / "drift.int8.onnx", frames[:8], frames[8:], ref[8:], target, 0.99,
                      module_paths(model), methods=("minmax",), log=lambda _m: None, equalize_activations=False,
                      correct_bias=correct_bias)

    quant, found = run(False)
    assert found.float_layers == ["mid"] and quant["bias_corrected"] == []  # without: the drifting conv in float
    quant, found = run(True)
    assert found.float_layers == [] and found.agreement >= 0.99
    assert any("mid" in name for name in quant["bias_corrected"])
    assert found.tried[0]["agreement"] < 0.6  # plain INT8 misses by far
