"""FP16 without surprises: a layer whose FP16 output overflows is found and kept in FP32."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.export.deploy_module import DeployModule
from unet_edge.export.fp16 import fp32_layers, layer_drift, with_fp32_islands
from unet_edge.export.onnx_export import export_onnx
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

pytestmark = pytest.mark.slow
META = {"format": "unet-edge/artifact", "version": 1, "version_minor": 0, "classes": ["a", "b", "c", "d"],
        "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], "ignore_index": 255, "precision": "fp16",
        "train_input_size": [32, 48], "input": {"name": "frame", "shape": [1, 32, 48, 3], "dtype": "uint8",
                                                "layout": "NHWC", "color": "BGR", "multiple_of": 1},
        "outputs": [{"name": "mask", "shape": [1, 32, 48], "dtype": "uint8", "semantics": "class_ids"}]}


class LoudHead(nn.Module):
    """Ordinary convs, then a head whose logits reach ~1e6: FP16 (max 65504) turns them into inf."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.body, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)
        for m in (self.body, self.head):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.5
        self.head.weight.data *= 2e5

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def _masks(model, dtype, path, frames):
    export_onnx(DeployModule(model, [0.5] * 3, [0.25] * 3, dtype=dtype), path, (32, 48))
    with OnnxRuntimeRunner(path, meta=ArtifactMeta.from_dict(META, path)) as r:
        return [r.infer(f) for f in frames]


def test_an_overflowing_head_is_kept_in_fp32_and_the_fp16_graph_agrees(tmp_path):
    model = LoudHead().eval()
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (32, 48, 3), np.uint8) for _ in range(6)]

    def normalize(f):
        x = torch.from_numpy(np.ascontiguousarray(f[None, ..., ::-1])).permute(0, 3, 1, 2).float()
        return x / (255 * 0.25) - 2.0

    report = layer_drift(model, frames, normalize)
    assert report["head"]["overflow"] and not report["body"]["overflow"] and report["body"]["error"] < 0.02
    assert fp32_layers(report) == ["head"]
    ref = _masks(model, torch.float32, tmp_path / "fp32.onnx", frames)
    plain = _masks(copy.deepcopy(model).half(), torch.float16, tmp_path / "plain.onnx", frames)
    islands = _masks(with_fp32_islands(model, ["head"]), torch.float16, tmp_path / "fp16.onnx", frames)

    def agree(masks):
        return float(np.mean([np.mean(a == b) for a, b in zip(masks, ref)]))

    assert agree(plain) < 0.9  # plain FP16 overflows: the argmax of infs is noise
    assert agree(islands) > 0.99
