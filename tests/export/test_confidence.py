"""The confidence output: round(255 x max softmax), in the graph, against PyTorch's FP32 softmax."""

from __future__ import annotations

import numpy as np
import pytest

from unet_edge.runtime.render import UNKNOWN, Renderer, unknown_grey
from unet_edge.runtime.runners import open_runner
from unet_edge.torch_runner import TorchRunner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def confident(tmp_path_factory, trained_run):
    from unet_edge.export.exporter import ExportOptions, export_model

    out = tmp_path_factory.mktemp("conf")
    export_model(trained_run / "best.pt", ExportOptions(out=out, fp16=True, confidence=True, verify_frames=4),
                      lambda _m: None)
    return out


@pytest.mark.parametrize("name,tolerance", [("best.onnx", 1), ("best.fp16.onnx", 3)])
def test_confidence_matches_the_fp32_softmax(confident, trained_run, name, tolerance):
    from unet_edge.synth import scene

    frames = [scene(300 + i, (64, 96))[0] for i in range(4)]
    with TorchRunner(trained_run / "best.pt") as ref, open_runner(confident / name) as runner:
        assert runner.output_names == ["mask", "confidence"]
        for f in frames:
            logits = ref.logits(f).astype(np.float64)
            p = np.exp(logits - logits.max(0))
            expect = np.round(255 * (p / p.sum(0)).max(0))
            outs = runner.infer_outputs(f)
            assert outs["confidence"].dtype == np.uint8 and outs["confidence"].shape == (64, 96)
            err = np.abs(outs["confidence"].astype(int) - expect)
            # an argmax tie flipped by rounding may move a pixel; the probability itself may not
            assert np.percentile(err, 99.9) <= tolerance and err.max() <= tolerance + 2, (name, err.max())
            assert np.mean(outs["mask"] == ref.infer(f)) > 0.99


def test_low_confidence_is_painted_unknown_and_the_heat_map_view(confident):
    with open_runner(confident / "best.onnx") as runner:
        palette = runner.palette
    grey = unknown_grey(palette)
    assert grey not in {tuple(c) for c in palette} and (128, 128, 128) in {tuple(c) for c in palette}
    mask = np.full((4, 6), 3, np.uint8)
    conf = np.full((4, 6), 250, np.uint8)
    conf[:, :3] = 100
    view = Renderer(["c"] * 11, palette, view="mask", hud=False, min_confidence=0.5).render(
        np.zeros((4, 6, 3), np.uint8), mask, (), conf)
    assert tuple(view[0, 0][::-1]) == grey and tuple(view[0, 5][::-1]) == tuple(palette[3])
    heat = Renderer(["c"] * 11, palette, view="confidence", hud=False).render(np.zeros((4, 6, 3), np.uint8), mask,
                                                                           (), conf)
    assert heat.shape == (4, 6, 3) and not np.array_equal(heat[0, 0], heat[0, 5])
    assert UNKNOWN == 255
