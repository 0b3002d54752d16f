"""Logit adjustment: exact offsets on every architecture's logits, saved in best.pt, never trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unet_edge.core.errors import ConfigError
from unet_edge.models import create
from unet_edge.models.checkpoint import load_checkpoint
from unet_edge.training import TrainConfig, train
from unet_edge.training.logit_adjust import adjusted, class_head, offsets


def test_offsets_take_back_a_share_of_the_log_weights_and_skip_unseen_classes():
    w = np.array([0.25, 1.0, 4.0, 0.0], np.float32)
    got = offsets(w, 0.5)
    torch.testing.assert_close(got, torch.tensor([np.log(2.0), 0.0, -np.log(2.0), 0.0], dtype=torch.float32))
    assert torch.count_nonzero(offsets(w, 0.0)) == 0


@pytest.mark.parametrize("arch,opts,size", [("unet", {"width": 4}, (37, 50)), ("unet-lite", {"width": 8}, (32, 48)),
                                            ("unet-efficientnet-lite0", {}, (45, 70))])
def test_the_head_bias_shifts_every_pixel_by_exactly_the_offset(arch, opts, size):
    torch.manual_seed(0)
    model = create(arch, num_classes=5, **opts).eval()
    key = class_head(model, 5)
    shift = torch.tensor([0.3, -0.2, 0.0, 1.0, -0.7])
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        before = model(x)
        model.load_state_dict(adjusted(model.state_dict(), key, shift))
        after = model(x)
    # up-sampling and the crop back from the padded size are per-class linear with weights summing to 1
    torch.testing.assert_close(after - before, shift[:, None, None].expand_as(before[0])[None], atol=1e-5, rtol=0)


def test_logit_adjust_is_a_share(tmp_path):
    with pytest.raises(ConfigError, match="--logit-adjust"):
        TrainConfig(data=str(tmp_path), logit_adjust=1.5)


@pytest.mark.slow
def test_training_saves_the_adjusted_head_and_resumes_from_the_raw_one(tmp_path, synth_dir):
    cfg = dict(data=str(synth_dir), dataset="folder", arch="unet", width=4, size=(32, 48), batch=8, seed=3,
               workers=1, max_steps=3, class_weights="median", logit_adjust=0.5, out=str(tmp_path / "run"))
    logs: list[str] = []
    train(TrainConfig(**cfg, epochs=1), log=logs.append)
    assert any("logit adjustment 0.5" in line for line in logs)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    shift = torch.tensor(best.logit_offsets)
    assert shift.abs().max() > 0.1  # the synthetic scenes' classes are far from balanced
    key = "head.1.bias"
    torch.testing.assert_close(last.state_dict[key] - last.resume.raw_state_dict[key], shift)
    torch.testing.assert_close(best.state_dict[key], last.state_dict[key])
    for k, v in last.resume.raw_state_dict.items():
        if k != key:
            torch.testing.assert_close(last.state_dict[k], v)
    train(TrainConfig(**cfg, epochs=2, resume=True), log=lambda _m: None)
    again = load_checkpoint(tmp_path / "run" / "last.pt")  # trained on from the raw bias, not twice adjusted
    torch.testing.assert_close(again.state_dict[key] - again.resume.raw_state_dict[key], shift)
    assert (again.resume.raw_state_dict[key] - last.resume.raw_state_dict[key]).abs().max() < 0.2
