"""The exact sub-pixel form of a stride-2 transposed convolution: Conv + DepthToSpace, which every
backend runs on its fastest path and INT8 quantizes end to end (``export --subpixel``, and the CPU
INT8 flavour's source graph)."""

from __future__ import annotations

from torch import nn


class SubPixelUp(nn.Module):
    """Exact replacement of ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1).

    Output pixel (2m+a, 2n+b) only sees input taps (m, m+1) x (n, n+1), so the transposed conv
    is a 2x2 convolution that emits the four phases (a, b) as channels, then a pixel shuffle
    (DepthToSpace). Plain Conv runs on every backend's fastest path and quantizes to INT8,
    where ConvTranspose often stays in float.
    """

    # kernel row used by phase a at offset d (None: no tap); the same table serves columns
    TAPS = ((1, None), (2, 0))

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        cin, cout = deconv.in_channels, deconv.out_channels
        w = deconv.weight.detach()  # (cin, cout, 3, 3)
        weight = w.new_zeros(cout * 4, cin, 2, 2)
        for a in (0, 1):
            for b in (0, 1):
                for di, ki in enumerate(self.TAPS[a]):
                    for dj, kj in enumerate(self.TAPS[b]):
                        if ki is not None and kj is not None:
                            # pixel_shuffle reads channel o*4 + a*2 + b for phase (a, b)
                            weight[a * 2 + b::4, :, di, dj] = w[:, :, ki, kj].t()
        self.conv = nn.Conv2d(cin, cout * 4, 2, bias=deconv.bias is not None)
        self.conv.weight.data.copy_(weight)
        if deconv.bias is not None:
            self.conv.bias.data.copy_(deconv.bias.detach().repeat_interleave(4))

    def forward(self, x):
        import torch.nn.functional as F

        return F.pixel_shuffle(self.conv(F.pad(x, (0, 1, 0, 1))), 2)


def _is_strided_deconv(m: nn.Module) -> bool:
    return (isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (3, 3) and m.stride == (2, 2)
            and m.padding == (1, 1) and m.output_padding == (1, 1) and m.groups == 1 and m.dilation == (1, 1))


def has_strided_deconv(model: nn.Module) -> bool:
    """Whether ``model`` has a ConvTranspose2d that :func:`deconv_to_subpixel` rewrites."""
    return any(_is_strided_deconv(m) for m in model.modules())


def deconv_to_subpixel(model: nn.Module) -> nn.Module:
    """Replace every stride-2 3x3 'same' ConvTranspose2d in ``model`` (in place) with SubPixelUp."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if _is_strided_deconv(child):
                setattr(module, name, SubPixelUp(child))
    return model
