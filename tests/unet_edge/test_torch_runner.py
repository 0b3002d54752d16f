"""The eager PyTorch reference keeps the runtime's runner contract, and agrees with its export."""

from __future__ import annotations

import numpy as np
import pytest

from unet_edge.core.errors import RunnerError, UnetEdgeError
from unet_edge.export.any_model import open_model
from unet_edge.runtime.runners import TIMING_FIELDS, open_runner
from unet_edge.torch_runner import TorchRunner


def test_the_torch_runner_keeps_the_contract_and_agrees_with_its_export(model, trained_run):
    frame = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    runner = TorchRunner(trained_run / "best.pt", input_size=(64, 96))
    with pytest.raises(RunnerError, match="not active"):
        runner.infer(frame)
    with runner:
        with pytest.raises(RunnerError, match="already active"):
            runner.activate()
        outs = runner.infer_outputs(frame)
        assert list(outs) == ["mask"] and outs["mask"].shape == (64, 96) and outs["mask"].dtype == np.uint8
        assert set(runner.timings) == set(TIMING_FIELDS) and runner.timings["compute_ms"] > 0
        assert runner.timings["h2d_ms"] is None and runner.timings["d2h_ms"] is None
    assert not runner.active
    with open_runner(model) as exported:
        assert np.mean(exported.infer(frame) == outs["mask"]) > 0.999


def test_open_model_takes_checkpoints_and_artifacts(model, trained_run):
    assert isinstance(open_model(trained_run / "best.pt"), TorchRunner)
    assert open_model(model).backend == "onnxruntime"
    tflite = model.with_suffix(".tflite")
    tflite.write_bytes(b"TFL3")
    with pytest.raises(UnetEdgeError, match="not a model file"):
        open_model(tflite)
