"""Scoring a model on the validation loader during training: one confusion matrix, summed over ranks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch import nn

from unet_edge.metrics import scores
from unet_edge.training import distributed as D


@torch.inference_mode()
def score(model: nn.Module, loader, d, prepare: Callable[[torch.Tensor], torch.Tensor],
          autocast: Callable[[], AbstractContextManager], offset: torch.Tensor | None,
          names: Sequence[str]) -> dict:
    """mIoU, pixel and mean accuracy and per-class IoU of ``model`` over ``loader``; ``prepare`` turns a
    uint8 batch into the model's input, ``offset`` (the logit adjustment) is added to the logits."""
    model.eval()
    n = len(names)
    cm = torch.zeros(n * n, dtype=torch.int64, device=d.device)
    for images, masks in loader:
        images = images.to(d.device, non_blocking=True)
        masks = masks.to(d.device, non_blocking=True)
        with autocast():
            logits = model(prepare(images))
        if offset is not None:
            logits = logits.float() + offset.to(logits.device)[:, None, None]
        pred = logits.argmax(1)
        keep = (masks >= 0) & (masks < n)
        cm += torch.bincount(masks[keep] * n + pred[keep], minlength=n * n)
    total = D.all_sum(cm.cpu().numpy().astype(np.float64), d).reshape(n, n)
    s = scores(total)
    return {"miou": s.miou, "pixel_acc": s.pixel_acc, "mean_acc": s.mean_acc, "iou": dict(zip(names, s.iou))}
