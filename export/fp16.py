"""FP16 without surprises: layers whose FP16 output overflows or drifts stay in FP32.

Each convolution's output is measured on the CPU in FP16 against FP32, feeding both the same FP32
input (so a layer is judged on its own, not on its predecessors' rounding). A layer overflows when
FP16 gives inf/nan, and drifts when its worst error exceeds ``max_error`` of its output's range.
Those layers run as FP32 islands in the FP16 graph (Cast in, FP32 weights, Cast out), which
TensorRT >= 10.12 builds strongly typed; older releases pin them with precision constraints.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from unet_edge.export.thresholds import FP16_MAX
from unet_edge.export.thresholds import FP16_MAX_ERROR as MAX_ERROR


class Float32Island(nn.Module):
    """Runs ``inner`` in FP32 inside an FP16 network. The last layer hands its FP32 output on (the
    deploy graph takes the logits in FP32 anyway); others saturate to the FP16 range, not to inf."""

    def __init__(self, inner: nn.Module, last: bool = False) -> None:
        super().__init__()
        self.inner, self.last = inner.float(), last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x.float())
        return y if self.last else y.clamp(-FP16_MAX, FP16_MAX).to(x.dtype)


def layer_drift(model: nn.Module, frames: list[np.ndarray], normalize) -> dict[str, dict]:
    """Per conv layer (module path): FP16 overflow and worst error relative to the FP32 range."""
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)}
    inputs: dict[str, list[torch.Tensor]] = {n: [] for n in convs}
    outputs: dict[str, list[torch.Tensor]] = {n: [] for n in convs}
    def keep(name: str):
        def hook(module, args, output) -> None:  # returning None leaves the output as it is
            # copies: an in-place ReLU after the conv would rewrite the tensors we keep
            inputs[name].append(args[0].detach().clone())
            outputs[name].append(output.detach().clone())
        return hook

    hooks = [m.register_forward_hook(keep(n)) for n, m in convs.items()]
    try:
        with torch.inference_mode():
            for f in frames:
                model(normalize(f))
    finally:
        for h in hooks:
            h.remove()
    report = {}
    with torch.inference_mode():
        for name, conv in convs.items():
            half = copy.deepcopy(conv).half()
            worst, overflow = 0.0, False
            for x, ref in zip(inputs[name], outputs[name]):
                y = half(x.half()).float()
                overflow |= not bool(torch.isfinite(y).all()) or float(ref.abs().max()) > FP16_MAX
                span = float(ref.max() - ref.min()) or 1.0
                worst = max(worst, float((y - ref).abs().nan_to_num(float("inf")).max()) / span)
            report[name] = {"overflow": overflow, "error": worst}
    return report


def fp32_layers(report: dict[str, dict], max_error: float = MAX_ERROR) -> list[str]:
    return sorted(n for n, r in report.items() if r["overflow"] or r["error"] > max_error)


def with_fp32_islands(model: nn.Module, layers: list[str]) -> nn.Module:
    """A half-precision copy of ``model`` in which ``layers`` run in FP32."""
    half = copy.deepcopy(model).half()
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    for name in layers:
        parent_name, _, child = name.rpartition(".")
        parent = half.get_submodule(parent_name) if parent_name else half
        # from the FP32 model: weights past the FP16 range are already inf in the half copy
        setattr(parent, child, Float32Island(copy.deepcopy(model.get_submodule(name)), last=name == convs[-1]))
    return half
