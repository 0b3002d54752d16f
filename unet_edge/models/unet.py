"""The seeds' U-Net (deeplearning.ai, Course 4 Week 3), in PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unet_edge.models.blocks import ConvBlock, UpBlock, conv3x3, he_normal_

STRIDE = 16  # four 2x2 poolings


class UNet(nn.Module):
    """Five encoder blocks, four decoder blocks, a 3x3 + 1x1 head.

    Any input size works: inputs are zero-padded to a multiple of 16 inside the model and
    the logits cropped back, so the output always has the input's height and width.
    """

    size_multiple = STRIDE

    def __init__(self, in_channels: int = 3, num_classes: int = 23, width: int = 32,
                 batchnorm: bool = False, dropout: float = 0.3) -> None:
        super().__init__()
        w = width
        self.enc = nn.ModuleList([
            ConvBlock(in_channels, w, batchnorm=batchnorm),
            ConvBlock(w, 2 * w, batchnorm=batchnorm),
            ConvBlock(2 * w, 4 * w, batchnorm=batchnorm),
            ConvBlock(4 * w, 8 * w, dropout=dropout, batchnorm=batchnorm),
            ConvBlock(8 * w, 16 * w, dropout=dropout, pool=False, batchnorm=batchnorm),
        ])
        self.dec = nn.ModuleList([
            UpBlock(16 * w, 8 * w, 8 * w, batchnorm),
            UpBlock(8 * w, 4 * w, 4 * w, batchnorm),
            UpBlock(4 * w, 2 * w, 2 * w, batchnorm),
            UpBlock(2 * w, w, w, batchnorm),
        ])
        self.head = nn.Sequential(conv3x3(w, w, batchnorm), nn.Conv2d(w, num_classes, 1))
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                he_normal_(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        pad_h, pad_w = (-h) % STRIDE, (-w) % STRIDE
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        skips = []
        for block in self.enc:
            x, skip = block(x)
            skips.append(skip)
        x = skips.pop()  # block 5 has no pooling: its output is the bottleneck
        for block in self.dec:
            x = block(x, skips.pop())
        x = self.head(x)
        if pad_h or pad_w:
            x = x[..., :h, :w]
        return x
