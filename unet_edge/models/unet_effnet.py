"""U-Net with an EfficientNet-Lite encoder: ImageNet features, a light decoder, edge- and INT8-friendly ops."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unet_edge.models.blocks import conv3x3
from unet_edge.models.efficientnet_lite import EfficientNetLiteEncoder

# EfficientNet-Lite was trained on RGB scaled to [-1, 1] (TF: (x - 127.5) / 127.5).
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
DECODER = (128, 64, 32, 16)  # the default decoder channels at strides 16, 8, 4, 2


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    # A constant scale, half-pixel bilinear: one ONNX Resize that TensorRT 8.5-11 and ORT parse alike.
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class DecoderBlock(nn.Module):
    """Up-sample x2, concatenate the skip, two 3x3 conv + BN + ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(conv3x3(cin + cskip, cout, True), conv3x3(cout, cout, True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([upsample2x(x), skip], dim=1))


class UNetEfficientNetLite(nn.Module):
    """EfficientNet-Lite features at strides 2-32, a U-Net decoder back to stride 2, a 1x1 class head.

    Inputs of any size work: they are zero-padded to a multiple of 32 inside and the logits cropped back.
    """

    size_multiple = 32

    def __init__(self, in_channels: int = 3, num_classes: int = 11, variant: str = "lite0",
                 decoder: tuple[int, ...] = DECODER) -> None:
        super().__init__()
        if len(decoder) != 4 or min(decoder) < 1:
            raise ValueError(f"decoder takes 4 positive channel counts (strides 16, 8, 4, 2), not {decoder}")
        self.encoder = EfficientNetLiteEncoder(variant, in_channels)
        skips = self.encoder.channels[:-1][::-1]  # strides 16, 8, 4, 2
        cin = self.encoder.channels[-1]
        blocks = []
        for cskip, cout in zip(skips, decoder):
            blocks.append(DecoderBlock(cin, cskip, cout))
            cin = cout
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, num_classes, 1)
        self.num_classes = num_classes
        for m in [*self.decoder.modules(), self.head]:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def load_pretrained(self) -> int:
        """Initialise the encoder from ImageNet; returns the number of tensors loaded."""
        from unet_edge.models.pretrained import load_encoder

        return load_encoder(self.encoder)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Encoder and decoder parameters apart, for their own learning rates."""
        enc = list(self.encoder.parameters())
        ids = {id(p) for p in enc}
        return {"encoder": enc, "decoder": [p for p in self.parameters() if id(p) not in ids]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        pad_h, pad_w = (-h) % self.size_multiple, (-w) % self.size_multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        features = self.encoder(x)
        y = features.pop()
        for block in self.decoder:
            y = block(y, features.pop())
        # A 1x1 conv and bilinear up-sampling are both linear, so the head at stride 2 followed by
        # up-sampling equals the head at full resolution, at a quarter of the pixels.
        y = upsample2x(self.head(y))
        if pad_h or pad_w:
            y = y[..., :h, :w]
        return y
