"""Batch-norm statistics re-estimated before validation, for models whose BN layers average slowly.

torchvision's MobileNetV3 (LR-ASPP, DeepLabV3) and many TensorFlow ports keep their running
statistics with momentum 0.01 or less, set for ImageNet's long schedules. Trained from scratch for a
few hundred steps, the running means trail the weights, and the eval-mode model is far worse than
the one training sees: torchvision's LR-ASPP after 12 epochs on CamVid gave 0.29 pixel accuracy on
held-out frames with its running statistics and 0.62 with the batch's (benchmarks/README.md). As
PreciseBN does (Wu and Johnson, "Rethinking 'Batch' in BatchNorm", 2021), the statistics are
recomputed before each validation as a plain average over the last training batches, with
``torch.optim.swa_utils.update_bn``. Models whose BN layers all use PyTorch's default momentum (every
built-in architecture) are left as they train.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

SLOW = 0.1  # PyTorch's default momentum: below it, a layer averages over more than about ten steps
KEEP = 16  # training batches the statistics are recomputed on


def slow_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` has a BN layer with running statistics that average slower than the default."""
    return any(isinstance(m, _BatchNorm) and m.track_running_stats and (m.momentum is None or m.momentum < SLOW)
               for m in model.modules())


class BatchNormRefresh:
    """Keeps the last ``KEEP`` training batches (as the loader gave them) where ``model`` needs it,
    and recomputes a model's BN statistics on them."""

    def __init__(self, model: nn.Module) -> None:
        self.needed = slow_batchnorm(model)
        self.batches: deque[torch.Tensor] = deque(maxlen=KEEP)

    def keep(self, images: torch.Tensor) -> None:
        if self.needed:
            self.batches.append(images.detach())

    def apply(self, model: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Recompute ``model``'s BN running statistics on the kept batches, each passed through ``prepare``."""
        if self.needed and self.batches:
            torch.optim.swa_utils.update_bn((prepare(b) for b in self.batches), model)
