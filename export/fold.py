"""Fold BatchNorm into the preceding convolution (in FP32, before any cast to half)."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with every Conv2d->BatchNorm2d pair fused into one Conv2d.

    Pairs are adjacent children of an ``nn.Sequential``, or the (conv, norm) attribute names a module
    lists in ``conv_bn_pairs`` (EfficientNet's blocks keep their pretrained key names, not a Sequential).
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        for name_a, name_b in getattr(module, "conv_bn_pairs", ()):
            a, b = getattr(module, name_a, None), getattr(module, name_b, None)
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                setattr(module, name_a, fuse_conv_bn_eval(a, b))
                setattr(module, name_b, nn.Identity())
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                setattr(module, name_a, fuse_conv_bn_eval(a, b))
                setattr(module, name_b, nn.Identity())
    return model
