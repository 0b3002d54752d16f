"""The CPU training step's speed settings: channels_last leaves checkpoints as they were, bf16 is timed once."""

from __future__ import annotations

import json

import pytest
import torch

from unet_edge.models import create
from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint
from unet_edge.training import TrainConfig, speed, train
from unet_edge.training.losses import SegLoss

pytestmark = pytest.mark.slow


def _tensors(obj, path=""):
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{path}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{path}/{i}")


def test_channels_last_training_saves_what_an_nchw_run_saves(tmp_path, synth_dir):
    runs = {}
    for channels_last in (True, False):
        out = tmp_path / str(channels_last)
        cfg = TrainConfig(data=str(synth_dir), dataset="folder", arch="unet", width=4, size=(32, 48), epochs=2,
                          batch=8, out=str(out), seed=3, workers=0, max_steps=3, ema=0.9,
                          channels_last=None if channels_last else False)
        train(cfg, log=lambda _m: None)
        runs[channels_last] = {name: load_checkpoint(out / name) for name in ("best.pt", "last.pt")}
        for name in ("best.pt", "last.pt"):  # what the file holds, read as saved
            for where, t in _tensors(torch.load(out / name, weights_only=True)):
                assert t.is_contiguous(), where
    for name in ("best.pt", "last.pt"):
        cl, nchw = runs[True][name].state_dict, runs[False][name].state_dict
        assert list(cl) == list(nchw)
        for k in cl:
            assert (cl[k].shape, cl[k].dtype, cl[k].stride()) == (nchw[k].shape, nchw[k].dtype, nchw[k].stride()), k
            torch.testing.assert_close(cl[k], nchw[k], atol=2e-3, rtol=1e-2)
    x = torch.randn(1, 3, 32, 48)
    with torch.inference_mode():
        torch.testing.assert_close(model_from_checkpoint(runs[True]["best.pt"])(x),
                                   model_from_checkpoint(runs[False]["best.pt"])(x), atol=2e-2, rtol=1e-2)
    # best.pt is chosen on the EMA weights every epoch; the raw weights are scored beside them at the last
    history = runs[True]["last.pt"].resume.history
    assert "miou_raw" not in history[0] and "miou_raw" in history[-1]


def test_bf16_auto_is_timed_once_per_machine_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("unet_edge.training.config.cpu_has_bf16", lambda: True)
    monkeypatch.setattr(speed, "_busy", lambda: 0.0)
    rates = {False: 2.0, True: 3.0}
    timed = []
    monkeypatch.setattr(speed, "time_steps", lambda *a, **k: timed.append(1) or (rates, spread))
    spread = 1.05
    logs = []
    args = (torch.nn.Identity(), torch.nn.Identity(), speed.StepShape(8, (32, 48), 3, True), logs.append)
    assert speed.choose_bf16("auto", args[0], args[1], "machine A", *args[2:]) is True
    assert "bf16 autocast on" in logs[-1] and "3.00 img/s in bf16 vs 2.00 in FP32 (measured" in logs[-1]
    assert speed.choose_bf16("auto", args[0], args[1], "machine A", *args[2:]) is True and len(timed) == 1
    assert "cached in" in logs[-1]
    assert json.loads(speed.cache_path().read_text())["machine A"]["bf16_images_per_s"] == 3.0
    rates = {False: 3.0, True: 3.05}  # within the noise: FP32's numerics are kept
    assert speed.choose_bf16("auto", args[0], args[1], "machine B", *args[2:]) is False and len(timed) == 2
    assert speed.choose_bf16(True, *args[:2], "machine B", *args[2:]) is True and len(timed) == 2
    spread = 1.5  # rounds far apart: used, not cached
    assert speed.choose_bf16("auto", args[0], args[1], "machine E", *args[2:]) is False and len(timed) == 3
    assert "1.50x apart (other load), so not cached" in logs[-1]
    monkeypatch.setattr(speed, "_busy", lambda: 9.0)  # measured under load: used, not cached
    assert speed.choose_bf16("auto", args[0], args[1], "machine D", *args[2:]) is False and len(timed) == 4
    assert "load average 9.0, so not cached" in logs[-1]
    assert not {"machine D", "machine E"} & set(json.loads(speed.cache_path().read_text()))
    monkeypatch.setattr("unet_edge.training.config.cpu_has_bf16", lambda: False)
    assert speed.choose_bf16("auto", args[0], args[1], "machine C", *args[2:]) is False and len(timed) == 4


def test_timing_the_step_leaves_the_model_untouched():
    model = create("unet", num_classes=3, width=4, batchnorm=True).to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rates, spread = speed.time_steps(model, SegLoss("ce+lovasz", None, 255), speed.StepShape(2, (32, 48), 3, True),
                                    rounds=2)
    assert set(rates) == {False, True} and min(rates.values()) > 0 and spread >= 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())  # the copy was trained, not the model
