"""Segmentation losses: weighted cross-entropy, plus a region term that helps thin classes.

Cross-entropy is per pixel, so a class covering 0.5% of the frame (poles, signs) hardly moves it. The region
terms score each class as a whole: Dice on soft predictions, Lovász-softmax (a convex surrogate of each
class's IoU, the metric itself), or online hard-pixel mining (OHEM), which trains on the pixels the model still
gets wrong. None re-weights the classes by frequency, so they do not push the model to paint thin classes
everywhere the way large median-frequency weights can.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "ce+dice", "ce+lovasz", "ohem")


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
        probs = logits.float().softmax(1).permute(0, 2, 3, 1).reshape(-1, n)
        labels = target.reshape(-1)
        valid = labelled(labels, n, self.ignore_index)
        probs, labels = probs[valid], labels[valid]
        present = labels.bincount(minlength=n) > 0
        if not present.any():
            return logits.sum() * 0
        classes = present.nonzero().flatten()
        fg = (labels == classes.unsqueeze(1)).float()  # present classes x pixels
        # One sort of every present class's errors at once, each along its row of pixels.
        errors, order = (fg - probs[:, classes].t()).abs().sort(1, descending=True)
        fg_sorted = fg.gather(1, order)
        # Gradient of the Jaccard loss along the sorted errors (the Lovász extension).
        total = fg_sorted.sum(1, keepdim=True)
        jaccard = 1 - (total - fg_sorted.cumsum(1)) / (total + (1 - fg_sorted).cumsum(1))
        grad = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], 1)
        return (errors * grad).sum(1).mean()


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
