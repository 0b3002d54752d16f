"""FP16 islands and INT8 of foreign ONNX graphs: the islands are chosen by drift, not only by range;
a hand-built graph's INT8 passes the gate in both flavours."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from unet_edge.export import deploy_graph as fg
from unet_edge.export import onnx_body as fo
from unet_edge.export.frame_sets import synthetic_frames
from unet_edge.models.contract import ContractOptions, contract_from_options

from .foreign_graphs import SIZE, Net, hand_graph, torch_graph


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(SIZE, 4)[0]


class Drifty(Net):
    """``stem``'s outputs sit near 30000, inside the FP16 range, but FP16's spacing there (16) is a
    large share of their span: it drifts without overflowing; ``head`` takes the offset back."""

    def __init__(self) -> None:
        super().__init__()
        with torch.no_grad():
            self.stem.weight.mul_(20.0)
            self.stem.bias.fill_(30000.0)
            self.head.bias.copy_(-self.head.weight.sum((1, 2, 3)) * 30000.0)

    def forward(self, x):
        return self.head(self.stem(x))


def test_fp16_islands_are_chosen_by_drift_not_only_by_range(tmp_path, frames):
    from unet_edge.export.fp16_onnx import fp16_islands

    c = contract_from_options(ContractOptions(classes="camvid"))
    src = fo.inspect(fo.load(torch_graph(tmp_path / "d.onnx", Drifty())), c, None)
    model = fg.deploy_graph(src, 17)
    keep, done, report = fp16_islands(model, frames)
    assert "stem" in done["fp32_layers"] and len(keep) == len(done["fp32_layers"])
    assert not report["stem"]["overflow"] and report["stem"]["error"] > 0.02 and report["stem"]["peak"] < 65504

    def masks(graph):
        sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        return np.stack([sess.run(None, {sess.get_inputs()[0].name: f[None]})[0] for f in frames])

    ref = masks(model)
    assert np.mean(masks(fg.deploy_graph(src, 17, fp16_keep=[])) == ref) < 0.9
    # consecutive islands hand FP32 on: no FP16 round trip between them
    assert np.mean(masks(fg.deploy_graph(src, 17, fp16_keep=keep)) == ref) >= 0.995
    benign = fg.deploy_graph(fo.inspect(fo.load(torch_graph(tmp_path / "n.onnx", Net())), c, None), 17)
    keep, done, report = fp16_islands(benign, frames)
    assert keep == [] and all(r["error"] < 0.02 for r in report.values())


@pytest.mark.parametrize("target,name", [("cpu", "hand.int8-cpu.onnx"), ("tensorrt", "hand.int8.onnx")])
def test_int8_of_a_hand_built_graph_passes_the_gate_in_both_flavours(tmp_path, target, name):
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.models.foreign import ForeignSpec

    calib = tmp_path / "calib"
    calib.mkdir()
    for i, f in enumerate(synthetic_frames(SIZE, 16, seed=99)[0]):
        cv2.imwrite(str(calib / f"{i:02d}.png"), f)
    c = contract_from_options(ContractOptions(rgb=True, classes="camvid", input_norm="signed"))
    result = export_model(hand_graph(tmp_path / "hand.onnx"), ExportOptions(
        int8=True, int8_target=target, calib=str(calib), calib_frames=16, size=SIZE, out=tmp_path / "out",
        verify_frames=6), lambda _m: None, spec=ForeignSpec(contract=c))
    rows = {r["precision"]: r for r in result.verification}
    assert rows["int8"]["passed"] and rows["int8"]["agreement"] >= 0.99
    art = str(result.artifacts[-1])
    assert art.endswith(name) and json.loads(Path(art + ".json").read_text())["int8"]["target"] == target
    ops = {n.op_type for n in onnx.load(art).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # a QDQ graph in both flavours
