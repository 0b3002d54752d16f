"""Input normalisation as a module: the maths the export graph bakes in, for training and eager inference."""

from __future__ import annotations

import torch


class Normalizer(torch.nn.Module):
    """uint8 NHWC RGB -> float NCHW normalised by mean/std (the same maths the export graph bakes in)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("scale", 1.0 / (255.0 * torch.tensor(std).view(1, 3, 1, 1)))
        self.register_buffer("shift", torch.tensor(mean).view(1, 3, 1, 1) / torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).float() * self.scale - self.shift
