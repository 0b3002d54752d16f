"""Optimiser parameter groups, the learning-rate schedule and the weight EMA."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def param_groups(model: nn.Module, lr: float, weight_decay: float, encoder_lr_scale: float) -> list[dict]:
    """AdamW groups: a pretrained encoder at ``encoder_lr_scale`` x ``lr``; no weight decay on norms and biases.

    Decaying a BatchNorm scale or a bias towards zero only fights the normalisation; it regularises nothing.
    """
    split = model.param_groups() if hasattr(model, "param_groups") else {"decoder": list(model.parameters())}
    groups = []
    for part, params in split.items():
        scale = encoder_lr_scale if part == "encoder" else 1.0
        decay = [p for p in params if p.requires_grad and p.ndim > 1]
        flat = [p for p in params if p.requires_grad and p.ndim <= 1]
        for ps, wd, kind in ((decay, weight_decay, "weights"), (flat, 0.0, "norms+biases")):
            if ps:
                groups.append({"params": ps, "lr": lr * scale, "weight_decay": wd, "name": f"{part} {kind}"})
    return groups


class Ema:
    """Exponential moving average of the weights (and BatchNorm statistics), evaluated and saved in their place.

    The decay warms up as ``min(decay, (1 + step) / (10 + step))`` so that short runs are not dominated
    by the random or ImageNet initialisation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay, self.steps = decay, 0
        self.model = _clone(model)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for ema, cur in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema.dtype.is_floating_point:
                ema.mul_(d).add_(cur.detach(), alpha=1 - d)
            else:
                ema.copy_(cur)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "steps": self.steps, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.steps = float(state["decay"]), int(state["steps"])
        self.model.load_state_dict(state["weights"])


def _clone(model: nn.Module) -> nn.Module:
    import copy

    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def cosine(total: int, warmup: int) -> Callable[[int], float]:
    """LambdaLR factor at a step: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f
