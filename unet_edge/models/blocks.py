"""Building blocks of the U-Net family, as the seeds' Keras assignment defines them."""

from __future__ import annotations

import math

import torch
from torch import nn


def he_normal_(conv: nn.Module) -> None:
    """Keras' he_normal: truncated normal, std sqrt(2 / fan_in), zero bias."""
    weight = conv.weight
    if isinstance(conv, nn.ConvTranspose2d):
        fan_in = weight.shape[0] * weight.shape[2] * weight.shape[3]
    else:
        fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
    std = math.sqrt(2.0 / fan_in)
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def conv3x3(cin: int, cout: int, batchnorm: bool) -> nn.Sequential:
    """3x3 'same' conv + (BatchNorm) + ReLU; the conv drops its bias when BN follows."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ConvBlock(nn.Module):
    """Encoder block: two 3x3 convs, optional dropout, optional 2x2 max pooling.

    Returns (next_layer, skip); the skip is taken before pooling.
    """

    def __init__(self, cin: int, cout: int, dropout: float = 0.0, pool: bool = True,
                 batchnorm: bool = False) -> None:
        super().__init__()
        self.convs = nn.Sequential(conv3x3(cin, cout, batchnorm), conv3x3(cout, cout, batchnorm))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.dropout(self.convs(x))
        return self.pool(skip), skip


class UpBlock(nn.Module):
    """Decoder block: 3x3 stride-2 'same' ConvTranspose, concat [up, skip], two 3x3 convs."""

    def __init__(self, cin: int, cskip: int, cout: int, batchnorm: bool = False) -> None:
        super().__init__()
        # padding=1 + output_padding=1 is Keras' padding='same' for stride 2: exactly 2x.
        self.up = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        self.convs = nn.Sequential(conv3x3(cout + cskip, cout, batchnorm), conv3x3(cout, cout, batchnorm))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(x), skip], dim=1))
