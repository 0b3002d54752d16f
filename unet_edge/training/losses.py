"""Segmentation losses: weighted cross-entropy, plus a region term that helps thin classes.

Cross-entropy is per pixel, so a class covering 0.5% of the frame (poles, signs) hardly moves it. The region
terms score each class as a whole: Dice on soft predictions, Lovász-softmax (a convex surrogate of each
class's IoU, the metric itself), or online hard-pixel mining (OHEM), which trains on the pixels the model still
gets wrong. None re-weights the classes by frequency, so they do not push the model to paint thin classes
everywhere the way large median-frequency weights can.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unet_edge.training.config import LOSSES  # named where the torch-free config checks --loss


def labelled(target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """The pixels that carry one of the ``num_classes`` labels (not ignored, not out of range)."""
    return (target != ignore_index) & (target >= 0) & (target < num_classes)


class SoftDice(nn.Module):
    """1 - mean soft Dice over the classes present in the batch's labels (ignored pixels excluded)."""

    def __init__(self, ignore_index: int, eps: float = 1.0) -> None:
        super().__init__()
        self.ignore_index, self.eps = ignore_index, eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = logits.shape[1]
        valid = labelled(target, n, self.ignore_index)
        probs = logits.float().softmax(1) * valid.unsqueeze(1)
        onehot = F.one_hot(torch.where(valid, target, 0), n).permute(0, 3, 1, 2).float() * valid.unsqueeze(1)
        inter = (probs * onehot).sum((0, 2, 3))
        total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
        present = onehot.sum((0, 2, 3)) > 0
        dice = (2 * inter + self.eps) / (total + self.eps)
        return 1 - dice[present].mean() if present.any() else logits.sum() * 0


class LovaszSoftmax(nn.Module):
    """Lovász-softmax (Berman et al., 2018): a convex surrogate of each class's IoU (Jaccard) loss, averaged
    over the classes present in the batch's labels. It optimises the metric itself, so a class's few pixels
    count as much as a large class's many."""

    def __init__(self, ignore_index: int) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = logits.shape[1]
        labels = target.reshape(-1)
        valid = labelled(labels, n, self.ignore_index)
        counts = labels[valid].bincount(minlength=n)
        if not (counts > 0).any():
            return logits.sum() * 0
        classes = (counts > 0).nonzero().flatten()
        probs = logits.float().softmax(1)
        if len(classes) < n:
            probs = probs.index_select(1, classes)
        probs = probs.transpose(0, 1).reshape(len(classes), -1)  # present classes x pixels
        fg = labels == classes.unsqueeze(1)
        # The loss is linear in the errors |fg - p|, each weighted by the Jaccard loss's increment at its
        # rank: the weights are found without autograd, so the backward pass is one multiply, not a sort's.
        with torch.no_grad():
            errors = torch.where(fg, 1 - probs, probs)
            weights = _lovasz_weights(errors, fg, valid, counts[classes].float())
            on_class = (weights * fg).sum(1)  # where the error is 1 - p
            weights = torch.where(fg, -weights, weights)
        return ((probs * weights).sum(1) + on_class).mean()


def _lovasz_weights(errors: torch.Tensor, fg: torch.Tensor, valid: torch.Tensor,
                    total: torch.Tensor) -> torch.Tensor:
    """Each pixel's weight in the Lovász extension: the Jaccard loss's increment at the pixel's rank among its
    class's errors (sorted in descending order); 0 for unlabelled pixels."""
    order = _descending_order(errors, valid)
    fg_sorted = fg.gather(1, order)
    hits = fg_sorted.cumsum(1, dtype=torch.float32)
    seen = torch.arange(1, errors.shape[1] + 1, dtype=torch.float32, device=errors.device)
    total = total.unsqueeze(1)
    jaccard = 1 - (total - hits) / (total + seen - hits)
    grad = jaccard.clone()
    grad[:, 1:] -= jaccard[:, :-1]
    grad[:, int(valid.sum()):] = 0  # unlabelled pixels sort last
    return torch.empty_like(errors).scatter_(1, order, grad)


def _descending_order(errors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per row, the column order of descending ``errors`` (values in [0, 1]), unlabelled columns last.

    On the CPU, numpy sorts packed (key, column) int64 values with its SIMD sort, several times faster
    than torch's argsort: non-negative floats order as their bit patterns, so the key is one subtraction.
    """
    if errors.device.type != "cpu":
        return errors.masked_fill(~valid, -1.0).sort(1, descending=True)[1]
    rows, cols = errors.shape
    packed = np.empty((rows, cols), np.int64)
    halves = packed.view(np.int32).reshape(rows, cols, 2)
    low, high = (0, 1) if sys.byteorder == "little" else (1, 0)
    halves[..., low] = np.arange(cols, dtype=np.int32)
    key = halves[..., high]
    np.subtract(np.int32(0x3F800000), errors.numpy().view(np.int32), out=key)  # 1.0's bits: largest error first
    key[:, np.flatnonzero(~valid.cpu().numpy())] = np.iinfo(np.int32).max
    packed.sort(1)
    order = torch.from_numpy(packed)
    return order.bitwise_and_(0xFFFFFFFF)


class OhemCE(nn.Module):
    """Cross-entropy over the hard pixels: those below ``keep_prob`` confidence, at least ``min_kept`` share."""

    def __init__(self, weight: torch.Tensor | None, ignore_index: int, keep_prob: float = 0.7,
                 min_kept: float = 1 / 16) -> None:
        super().__init__()
        self.ce = nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, reduction="none")
        self.threshold, self.min_kept, self.ignore_index = -math.log(keep_prob), min_kept, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.ce(logits, target).flatten()
        valid = (target.flatten() != self.ignore_index)
        loss = loss[valid]
        if loss.numel() == 0:
            return logits.sum() * 0
        k = max(1, int(self.min_kept * loss.numel()))
        hard = loss[loss > self.threshold]
        return (hard if hard.numel() >= k else loss.topk(k).values).mean()


class SegLoss(nn.Module):
    """The training loss by name: ``ce``, ``ce+dice``, ``ce+lovasz`` or ``ohem`` (class weights apply to the CE
    part)."""

    def __init__(self, name: str, weight: torch.Tensor | None, ignore_index: int) -> None:
        super().__init__()
        if name not in LOSSES:
            raise ValueError(f"unknown loss '{name}'")
        self.name = name
        self.ce = (OhemCE(weight, ignore_index) if name == "ohem"
                   else nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index))
        regions = {"ce+dice": SoftDice, "ce+lovasz": LovaszSoftmax}
        self.region = regions[name](ignore_index) if name in regions else None

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.ce(logits.float(), target)
        return loss + self.region(logits, target) if self.region is not None else loss
