"""Activation equalisation changes the INT8 error, never the float function."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from tests.export.deploy_files import deploy_onnx
from unet_edge.export.int8.equalize import equalize
from unet_edge.export.subpixel import deconv_to_subpixel
from unet_edge.models import create

SIZE = (64, 96)


def _logits(path, frames):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [sess.run(None, {"frame": f[None]})[0] for f in frames]


@pytest.mark.parametrize("subpixel", [False, True], ids=["conv-transpose", "depth-to-space"])
def test_the_float_graph_computes_the_same_logits(tmp_path, subpixel):
    torch.manual_seed(0)
    model = create("unet", 5, width=8, batchnorm=False).eval()
    with torch.no_grad():  # uneven channels, as a network without BatchNorm leaves them
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(torch.logspace(-2, 2, m.out_channels)[:, None, None, None])
    if subpixel:
        model = deconv_to_subpixel(model)
    src = deploy_onnx(model, [0.5] * 3, [0.25] * 3, tmp_path / "m.onnx", SIZE, logits=True, meta={})
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (*SIZE, 3), np.uint8) for _ in range(4)]
    done = equalize(src, tmp_path / "eq.onnx", frames)
    # the candidates, every conv output but the logits: 2 per encoder block (a skip reaches its decoder conv
    # through the concat, and the next block through the pooling), the up-samplings, 2 per decoder block, the
    # head's first; those whose channels are MIN_IMBALANCE apart are equalised
    from unet_edge.export.int8.equalize import _pairs, _private_weights

    graph = onnx.load(str(src))
    _private_weights(graph)
    candidates = {p.tensor for p in _pairs(graph)}
    assert len(candidates) == 5 * 2 + 4 + 4 * 2 + 1
    assert set(done) <= candidates and len(done) >= len(candidates) * 3 // 4
    before, after = _logits(src, frames), _logits(tmp_path / "eq.onnx", frames)
    for a, b in zip(before, after):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * np.abs(a).max())
    changed = {t.name for t in onnx.load(str(tmp_path / "eq.onnx")).graph.initializer} & \
        {t.name for t in onnx.load(str(src)).graph.initializer}
    assert changed  # the weights moved, the function did not
    w0 = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(src)).graph.initializer}
    w1 = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "eq.onnx")).graph.initializer}
    assert any(not np.allclose(w0[k], w1[k]) for k in changed if w0[k].ndim == 4)


def test_a_graph_with_nothing_to_equalise_is_left_alone(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))  # the logits: no conv reads them
    src = deploy_onnx(model, [0.5] * 3, [0.25] * 3, tmp_path / "m.onnx", SIZE, meta={})
    assert equalize(src, tmp_path / "eq.onnx", [np.zeros((*SIZE, 3), np.uint8)]) == []
    assert not (tmp_path / "eq.onnx").exists()


class _NegativeChannel(torch.nn.Module):
    """`a`'s channel 0 is 1,000 below zero: nothing after its Relu, the whole range before it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = (torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1),
                                  torch.nn.Conv2d(4, 2, 1))
        with torch.no_grad():
            self.a.weight[0] = 0.0
            self.a.bias[0] = -1000.0

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


def _raw_range(path, tensor: str, frames) -> float:
    import onnxruntime as ort

    model = onnx.load(str(path))
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return max(float(np.abs(sess.run([tensor], {"frame": f[None]})[0]).max()) for f in frames)


def test_tensorrt_ranges_count_the_negatives_its_qdq_sees(tmp_path):
    """TensorRT's QDQ sits on the conv's output before the Relu: scaling a channel up because its
    positive side is narrow would blow its negative side up into the whole tensor's range."""
    src = deploy_onnx(_NegativeChannel().eval(), [0.5] * 3, [0.25] * 3, tmp_path / "m.onnx", SIZE, logits=True,
                      meta={})
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (*SIZE, 3), np.uint8) for _ in range(4)]
    raw = next(n.output[0] for n in onnx.load(str(src)).graph.node if n.op_type == "Conv")
    before = _raw_range(src, raw, frames)
    assert equalize(src, tmp_path / "signed.onnx", frames, signed=True)
    assert _raw_range(tmp_path / "signed.onnx", raw, frames) < before / 5
    # Relu'd ranges cannot see it: the other channels are alike, nothing to equalise
    assert equalize(src, tmp_path / "unsigned.onnx", frames, signed=False) == []


def test_channels_of_like_ranges_are_left_alone(tmp_path):
    """Where BatchNorm evened the channels out (lite0's widest is 1.2-2.2x its median), one per-tensor
    scale serves them all: no second graph, no second statistics pass."""
    torch.manual_seed(0)
    model = create("unet", 5, width=8, batchnorm=False).eval()
    with torch.no_grad():  # every output channel within 1.5x of the others, inputs alike
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(m.weight[:1].expand_as(m.weight) * torch.linspace(1, 1.5, m.out_channels)[:, None,
                                                                                                        None, None])
                if m.bias is not None:
                    m.bias.fill_(0.0)
    src = deploy_onnx(model, [0.5] * 3, [0.25] * 3, tmp_path / "m.onnx", SIZE, logits=True, meta={})
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (*SIZE, 3), np.uint8) for _ in range(4)]
    assert equalize(src, tmp_path / "eq.onnx", frames) == []
    assert not (tmp_path / "eq.onnx").exists()
