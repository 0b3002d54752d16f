"""Training learns, checkpoints round-trip, runs resume and repeat, bad checkpoints fail clearly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from unet_edge.core.errors import CheckpointError, ConfigError
from unet_edge.data import open_dataset
from unet_edge.evaluate import evaluate
from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint
from unet_edge.torch_runner import TorchRunner
from unet_edge.training import TrainConfig, train

pytestmark = pytest.mark.slow


def test_training_clearly_learns_the_synthetic_scenes(trained_run, synth_dir):
    val = open_dataset("folder", synth_dir, "val")
    counts = np.zeros(11)
    for i in range(len(val)):
        counts += np.bincount(val[i][1].ravel(), minlength=256)[:11]
    majority = counts.max() / counts.sum()
    with TorchRunner(trained_run / "best.pt") as runner:
        report = evaluate(runner, val)
    acc = report["scores"]["pixel_acc"]
    assert acc > majority + 0.25, f"pixel acc {acc:.3f} vs majority class {majority:.3f}"
    assert report["scores"]["miou"] > 0.25


def test_run_writes_checkpoints_curve_and_summary(trained_run):
    for name in ("best.pt", "last.pt", "curve.png", "summary.txt"):
        assert (trained_run / name).is_file(), name
    assert "per-class IoU" in (trained_run / "summary.txt").read_text()
    assert not list(trained_run.glob(".*"))  # no temporary files left behind


def test_checkpoint_carries_what_later_stages_need_and_round_trips(trained_run):
    ckpt = load_checkpoint(trained_run / "best.pt")
    assert ckpt.arch == "unet-lite" and ckpt.model_options == {"width": 16, "batchnorm": True}
    assert ckpt.info.names[3] == "Road" and len(ckpt.info.palette) == 11 and ckpt.info.ignore_index == 11
    assert ckpt.input_size == (64, 96) and len(ckpt.mean) == 3 and ckpt.resume is None
    assert ckpt.train_args["epochs"] == 8 and 0 < ckpt.metrics["miou"] <= 1
    model = model_from_checkpoint(ckpt)
    again = model_from_checkpoint(load_checkpoint(trained_run / "best.pt"))
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), again(x))
    assert load_checkpoint(trained_run / "last.pt").resume.optimizer


def _cfg(data, out, **kw):
    base = dict(data=str(data), dataset="folder", arch="unet", width=4, size=(32, 48), epochs=2, batch=8,
                out=str(out), seed=3, workers=1, max_steps=3)
    return TrainConfig(**{**base, **kw})


def test_resume_continues_an_interrupted_run(tmp_path, synth_dir):
    out = tmp_path / "run"
    train(_cfg(synth_dir, out, epochs=1), log=lambda _m: None)
    first = load_checkpoint(out / "last.pt")
    assert first.resume.epoch == 0
    logs = []
    result = train(_cfg(synth_dir, out, epochs=3, resume=True), log=logs.append)
    assert any("resuming" in line and "epoch 2/3" in line for line in logs)
    assert [r["epoch"] for r in result["history"]] == [1, 2, 3]
    assert load_checkpoint(out / "last.pt").resume.epoch == 2


def test_resume_refuses_another_architecture(tmp_path, synth_dir):
    out = tmp_path / "run"
    train(_cfg(synth_dir, out, epochs=1), log=lambda _m: None)
    with pytest.raises(CheckpointError, match="resume with the same --arch"):
        train(_cfg(synth_dir, out, width=8, resume=True), log=lambda _m: None)


def test_same_seed_gives_the_same_weights(tmp_path, synth_dir):
    for name in ("a", "b"):
        train(_cfg(synth_dir, tmp_path / name, epochs=1, workers=2), log=lambda _m: None)
    a = load_checkpoint(tmp_path / "a" / "last.pt").state_dict
    b = load_checkpoint(tmp_path / "b" / "last.pt").state_dict
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_median_class_weights_and_rare_class_crops_train(tmp_path, synth_dir):
    lines: list[str] = []
    result = train(_cfg(synth_dir, tmp_path / "w", epochs=1, class_weights="median", rare_crop=0.5), log=lines.append)
    assert np.isfinite(result["history"][0]["loss"])
    # the rarer-than-median classes of the training frames, named in the recipe line
    assert any("rare-class crops 0.5 (classes " in line for line in lines)


def test_bad_checkpoints_give_clear_errors(tmp_path, trained_run):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_checkpoint(junk)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes((trained_run / "best.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(trunc)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(1)}, plain)
    with pytest.raises(CheckpointError, match="not a unet-edge checkpoint"):
        load_checkpoint(plain)
    ckpt = dataclasses.replace(load_checkpoint(trained_run / "best.pt"), model_options={"width": 32,
                                                                                        "batchnorm": False})
    with pytest.raises(CheckpointError, match="weights do not fit architecture 'unet-lite'"):
        model_from_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="dataset folder not found"):
        TrainConfig(data=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="class-weights"):
        TrainConfig(data=str(tmp_path), class_weights="inverse")


def test_an_earlier_run_is_resumed_or_replaced_never_overwritten_unasked(tmp_path, trained_run):
    """train --out over an earlier run: refused before any data is read, unless --resume or --overwrite."""
    from unet_edge.training.run_folder import check_run_folder

    (tmp_path / "data").mkdir()

    def cfg(out, **kw):
        return TrainConfig(data=str(tmp_path / "data"), dataset="folder", arch="unet", out=str(out), **kw)

    before = {p.name: p.stat().st_mtime_ns for p in trained_run.iterdir()}
    with pytest.raises(ConfigError, match=r"holds an earlier run \(best.pt, last.pt\).*--resume.*--overwrite"):
        train(cfg(trained_run), log=lambda _m: None)
    assert {p.name: p.stat().st_mtime_ns for p in trained_run.iterdir()} == before
    check_run_folder(cfg(trained_run, resume=True))
    check_run_folder(cfg(trained_run, overwrite=True))
    with pytest.raises(ConfigError, match="--resume: .*last.pt not found"):
        check_run_folder(cfg(tmp_path / "new", resume=True))
    check_run_folder(cfg(tmp_path / "new"))  # a new folder, or an empty one
    (tmp_path / "new").mkdir()
    check_run_folder(cfg(tmp_path / "new"))


def test_a_time_budget_sets_the_epochs_from_the_epochs_so_far(tmp_path, synth_dir):
    from unet_edge.training.trainer import Trainer

    # a budget smaller than one epoch: one epoch, whatever --epochs said
    train(_cfg(synth_dir, tmp_path / "short", epochs=5, time=1e-4), log=lambda _m: None)
    assert load_checkpoint(tmp_path / "short" / "best.pt").train_args["epochs"] == 1
    assert len(load_checkpoint(tmp_path / "short" / "last.pt").resume.history) == 1
    # 30 s epochs in a 2-minute budget: 4 epochs, the cosine schedule reaching zero at the new end
    trainer = Trainer(_cfg(synth_dir, tmp_path / "long", epochs=2, time=2.0), log=lambda _m: None)
    trainer._fit_to_budget(30.0)
    assert trainer.cfg.epochs == 4 and trainer.meta["train_args"]["epochs"] == 4
    end = trainer.steps_per_epoch * 4
    assert trainer.sched.lr_lambdas[0](end) == pytest.approx(0.0) and trainer.sched.lr_lambdas[0](end // 2) > 0.4
    # re-fitted after each epoch: a first epoch slowed to 60 s gives 2; 3 epochs in 60 s in all then
    # leave 60 s at 20 s an epoch: 3 more
    trainer._fit_to_budget(60.0, 1)
    assert trainer.cfg.epochs == 2
    trainer._fit_to_budget(60.0, 3)
    assert trainer.cfg.epochs == 3 + 3 and trainer.meta["train_args"]["epochs"] == 6
    with pytest.raises(ConfigError, match="--time"):
        _cfg(synth_dir, tmp_path / "bad", time=0)
