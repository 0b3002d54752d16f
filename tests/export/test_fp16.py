"""FP16 without surprises: a layer whose FP16 output overflows is found and kept in FP32, and an FP32
island read by FP16 layers hands them values saturated to the FP16 range, never inf."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.export.deploy_files import deploy_model, save
from unet_edge.core.artifact import ArtifactMeta
from unet_edge.export.fp16_onnx import fp16_islands
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

pytestmark = pytest.mark.slow
SIZE = (32, 48)
META = {"format": "unet-edge/artifact", "version": 1, "version_minor": 0, "classes": ["a", "b", "c", "d"],
        "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], "ignore_index": 255, "precision": "fp16",
        "train_input_size": list(SIZE), "input": {"name": "frame", "shape": [1, *SIZE, 3], "dtype": "uint8",
                                                  "layout": "NHWC", "color": "BGR", "multiple_of": 1},
        "outputs": [{"name": "mask", "shape": [1, *SIZE], "dtype": "uint8", "semantics": "class_ids"}]}


class Loud(nn.Module):
    """Ordinary convs, then a layer whose outputs reach ~1e6: FP16 (max 65504) turns them into inf.
    ``loud_head``: the last layer is the loud one; else ``mid`` is, and a quiet head follows it."""

    def __init__(self, loud_head: bool = True) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.body, self.mid, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 1)
        for m in (self.body, self.mid, self.head):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.5
        (self.head if loud_head else self.mid).weight.data *= 2e5

    def forward(self, x):
        return self.head(torch.relu(self.mid(torch.relu(self.body(x)))))


def _frames(n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.integers(0, 255, (*SIZE, 3), np.uint8) for _ in range(n)]


def _outputs(graph, path, frames, logits: bool = False):
    meta = dict(META, outputs=[{"name": "logits", "shape": [1, 4, *SIZE], "dtype": "float32", "semantics": "logits"}]
                ) if logits else META
    save(graph, path)
    with OnnxRuntimeRunner(path, meta=ArtifactMeta.from_dict(meta, path)) as r:
        return [r.infer(f) for f in frames]


def test_an_overflowing_head_is_kept_in_fp32_and_the_fp16_graph_agrees(tmp_path):
    model, frames = Loud().eval(), _frames()
    fp32 = deploy_model(model, [0.5] * 3, [0.25] * 3, SIZE)
    keep, done, report = fp16_islands(fp32, frames, [n for n, _ in model.named_modules() if n])
    assert done["fp32_layers"] == ["head"] and report["head"]["overflow"] and not report["body"]["overflow"]
    assert report["body"]["error"] < 0.02
    ref = _outputs(fp32, tmp_path / "fp32.onnx", frames)
    plain = _outputs(deploy_model(model, [0.5] * 3, [0.25] * 3, SIZE, fp16_keep=[]), tmp_path / "plain.onnx", frames)
    islands = _outputs(deploy_model(model, [0.5] * 3, [0.25] * 3, SIZE, fp16_keep=keep), tmp_path / "f16.onnx", frames)

    def agree(masks):
        return float(np.mean([np.mean(a == b) for a, b in zip(masks, ref)]))

    assert agree(plain) < 0.9  # plain FP16 overflows: the argmax of infs is noise
    assert agree(islands) > 0.99


def test_an_island_read_by_fp16_layers_saturates_rather_than_overflows(tmp_path):
    model, frames = Loud(loud_head=False).eval(), _frames(3)
    fp32 = deploy_model(model, [0.5] * 3, [0.25] * 3, SIZE)
    mid = next(n.name for n in fp32.graph.node if n.op_type == "Conv" and "/mid/" in n.name)
    half = deploy_model(model, [0.5] * 3, [0.25] * 3, SIZE, logits=True, fp16_keep=[mid])
    assert any(n.op_type == "Clip" for n in half.graph.node)
    logits = _outputs(half, tmp_path / "half.onnx", frames, logits=True)
    assert all(np.isfinite(lg).all() for lg in logits)  # inf from the island would give inf - inf = nan
