"""One runner contract: activation owned by the base, the same timing fields, outputs by name,
a runner built from a path or from its contract. On the tiny model: torch-free."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from unet_edge.core.artifact import ArtifactMeta, load_meta
from unet_edge.core.errors import ArtifactError, ConfigError, RunnerError
from unet_edge.runtime.runners import TIMING_FIELDS, open_runner
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner


def _frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (64, 96, 3), np.uint8)


def _expected(frame: np.ndarray) -> np.ndarray:
    """The tiny model's class ids: the floor of a pixel's mean intensity / 24."""
    return np.floor(frame.astype(np.float32).mean(-1) / 24).astype(np.uint8)


def test_activation_is_owned_by_the_base(model):
    runner, frame = open_runner(model), _frame()
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
    assert runner.active and np.array_equal(runner.infer(frame), _expected(frame))
    runner.deactivate()
    runner.deactivate()
    assert not runner.active and runner.session is None


def test_a_failed_activation_leaves_the_runner_inactive(model, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    runner = open_runner(meta=replace(load_meta(model), path=broken))
    with pytest.raises(ArtifactError, match="cannot load"):
        runner.activate()
    assert not runner.active and runner.session is None


def test_a_runner_is_built_from_a_path_or_from_its_contract(model, tmp_path):
    """A graph without a sidecar (an INT8 search's trial) runs from an ArtifactMeta: nothing is read."""
    bare = tmp_path / "trial.onnx"
    shutil.copy(model, bare)
    meta = ArtifactMeta.from_dict(load_meta(model).to_dict(), bare)
    frame = _frame(1)
    with OnnxRuntimeRunner(meta=meta) as a, open_runner(bare, meta=meta) as b:
        assert a.path == b.path == bare
        assert np.array_equal(a.infer(frame), _expected(frame)) and np.array_equal(b.infer(frame), _expected(frame))
    with pytest.raises(ConfigError, match="contract for"):
        OnnxRuntimeRunner(model, meta=meta)
    with pytest.raises(ConfigError, match="needs a model path or its ArtifactMeta"):
        OnnxRuntimeRunner()


def test_the_runner_fills_every_timing_field_and_names_its_outputs(model):
    frame = _frame()
    with open_runner(model) as runner:
        outs = runner.infer_outputs(frame)
        assert list(outs) == ["mask"] and outs["mask"].dtype == np.uint8
        assert np.array_equal(outs["mask"], _expected(frame))
        assert set(runner.timings) == set(TIMING_FIELDS)
        assert runner.timings["compute_ms"] > 0 and runner.timings["pre_ms"] >= 0
        assert runner.timings["h2d_ms"] is None and runner.timings["d2h_ms"] is None  # CPU: no transfers


def test_fixed_models_refuse_another_size_or_batch(model):
    with pytest.raises(ConfigError, match="fixed at 64x96"):
        open_runner(model, input_size=(128, 192))
    with open_runner(model) as r:
        with pytest.raises(ConfigError, match="batches of 1"):
            r.infer(np.zeros((2, 64, 96, 3), np.uint8))
        with pytest.raises(ConfigError, match="takes 64x96; resize it first"):
            r.infer(np.zeros((32, 48, 3), np.uint8))
        with pytest.raises(ConfigError, match="expected a uint8 HxWx3 BGR frame"):
            r.infer(np.zeros((64, 96, 3), np.float32))
