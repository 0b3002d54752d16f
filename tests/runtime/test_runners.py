"""One runner contract: activation owned by the base, the same timing fields, outputs by name."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from unet_edge.core.artifact import ArtifactMeta, load_meta
from unet_edge.core.errors import ArtifactError, ConfigError, RunnerError
from unet_edge.runtime.runners import TIMING_FIELDS, open_runner
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner
from unet_edge.torch_runner import TorchRunner, open_model


def _runners(model, trained_run):
    return [open_runner(model), TorchRunner(trained_run / "best.pt", input_size=(64, 96))]


def test_activation_is_owned_by_the_base(model, trained_run):
    for runner in _runners(model, trained_run):
        frame = np.zeros((64, 96, 3), np.uint8)
        with pytest.raises(RunnerError, match="not active"):
            runner.infer(frame)
        runner.deactivate()  # inactive: a no-op
        with runner:
            with pytest.raises(RunnerError, match="already active"):
                runner.activate()
            runner.infer(frame)
        assert not runner.active
        with pytest.raises(RunnerError, match="not active"):
            runner.infer(frame)
        runner.activate()
        assert runner.active and runner.infer(frame).shape == (64, 96)
        runner.deactivate()
        runner.deactivate()
        assert not runner.active


def test_a_failed_activation_leaves_the_runner_inactive(model, tmp_path):
    meta = load_meta(model)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    runner = open_runner(meta=replace(meta, path=broken))
    with pytest.raises(ArtifactError, match="cannot load"):
        runner.activate()
    assert not runner.active and runner.session is None


def test_a_runner_is_built_from_a_path_or_from_its_contract(model, tmp_path):
    """A graph without a sidecar (an INT8 search's trial) runs from an ArtifactMeta."""
    bare = tmp_path / "trial.onnx"
    shutil.copy(model, bare)
    with pytest.raises(ArtifactError, match="sidecar missing"):
        open_runner(bare)
    meta = ArtifactMeta.from_dict(load_meta(model).to_dict(), bare)
    frame = np.random.default_rng(1).integers(0, 255, (64, 96, 3), np.uint8)
    with open_runner(model) as a, OnnxRuntimeRunner(meta=meta) as b, open_runner(bare, meta=meta) as c:
        assert b.path == bare and np.array_equal(a.infer(frame), b.infer(frame))
        assert np.array_equal(b.infer(frame), c.infer(frame))
    with pytest.raises(ConfigError, match="contract for"):
        OnnxRuntimeRunner(model, meta=meta)


def test_every_runner_fills_the_same_timing_fields_and_names_its_outputs(model, trained_run):
    frame = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    masks = []
    for runner in _runners(model, trained_run):
        with runner:
            outs = runner.infer_outputs(frame)
            assert list(outs) == ["mask"] and outs["mask"].shape == (64, 96) and outs["mask"].dtype == np.uint8
            assert set(runner.timings) == set(TIMING_FIELDS)
            assert runner.timings["compute_ms"] > 0 and runner.timings["pre_ms"] >= 0
            assert runner.timings["h2d_ms"] is None and runner.timings["d2h_ms"] is None  # CPU: no transfers
            masks.append(runner.infer(frame))
    assert np.mean(masks[0] == masks[1]) > 0.999


def test_fixed_models_refuse_another_size_or_batch(model):
    with pytest.raises(ConfigError, match="fixed at 64x96"):
        open_runner(model, input_size=(128, 192))
    with open_runner(model) as r, pytest.raises(ConfigError, match="batches of 1"):
        r.infer(np.zeros((2, 64, 96, 3), np.uint8))


def test_open_model_takes_checkpoints_and_artifacts(model, trained_run):
    assert isinstance(open_model(trained_run / "best.pt"), TorchRunner)
    assert open_model(model).backend == "onnxruntime"
    with pytest.raises(ConfigError, match="unsupported model file type"):
        open_model(model.with_suffix(".tflite"))
