"""Post-hoc logit adjustment: take back part of the class weighting's push toward rare classes.

Cross-entropy weighted by w_c trains logits that estimate log p(c|x) + log w_c: with SegNet's
median-frequency weights (Pole and SignSymbol at 5-6x, Bicyclist at 10x) the model paints rare classes
wherever they are merely plausible. Pole's precision on CamVid val was 0.21 against a recall of 0.36.
Subtracting alpha * log w_c from the logits removes a share alpha of that push. alpha = 0 keeps the
trained model; alpha = 1 removes the whole push, which maximises pixel accuracy, not mIoU. The constant
goes into the class head's bias: bilinear up-sampling and cropping commute with a per-class constant,
so the exported graph carries it at no cost. A ``--model-class`` model whose head has no bias gets it
added to its output instead (``logit_offsets_at: "output"`` in the checkpoint; one Add in the graph).

alpha = 0.5 was chosen on CamVid sequence 0006R0, held out of train, never on CamVid val
(benchmarks/logit_adjust.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from unet_edge.core.errors import CheckpointError


def offsets(weights: np.ndarray | torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-class logit offsets -alpha * log(w); 0 for classes without a weight (never seen in train)."""
    w = torch.as_tensor(weights, dtype=torch.float32).cpu()
    return torch.where(w > 0, -alpha * torch.log(w.clamp_min(1e-12)), torch.zeros_like(w))


def class_head(model: nn.Module, num_classes: int) -> str:
    """State-dict key of the bias of the conv that produces the class logits: the last conv with
    ``num_classes`` outputs (every registered architecture ends in one)."""
    key = head_bias(model, num_classes)
    if key is None:
        raise CheckpointError(f"{type(model).__name__}: no class-head conv with a bias to adjust")
    return key


def head_bias(model: nn.Module, num_classes: int) -> str | None:
    """``class_head``'s key, or None where the last conv with ``num_classes`` outputs has no bias (or
    there is none): a user's model then gets the offsets added to its output instead."""
    name = None
    for path, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.out_channels == num_classes:
            name = path
    if name is None or getattr(model.get_submodule(name), "bias", None) is None:
        return None
    return f"{name}.bias"


def adjusted(state: dict[str, torch.Tensor], key: str, offset: torch.Tensor) -> dict[str, torch.Tensor]:
    """A copy of ``state`` whose ``key`` (the class head's bias) carries ``offset``."""
    out = dict(state)
    out[key] = state[key] + offset.to(state[key].device, state[key].dtype)
    return out
