"""The deploy graph: uint8 NHWC BGR frame in, uint8 class ids (or logits) out, and optionally
``confidence``: uint8 round(255 x max softmax probability), computed in FP32 next to the argmax.

Everything the CPU would otherwise do per frame (BGR->RGB, scaling, normalisation, the NCHW
transpose, argmax) happens inside the graph, so the runtime does no float work on the host.

The argmax cast chain is ArgMax -> Cast(FLOAT) -> Cast(UINT8), never ArgMax -> Cast(UINT8):
TensorRT lowers ArgMax to TopK whose indices are INT32 on 8.x and INT64 on 10.x, and the 8.5
parser only casts to or from UINT8 with a float type on the other side. INT32/INT64 -> FLOAT is
supported by every version, and FLOAT -> UINT8 too, so the same file parses on 8.5 and 10/11.
Class ids are small integers, exact in float16 and float32.
"""

from __future__ import annotations

import torch
from torch import nn


class DeployModule(nn.Module):
    """Wraps a trained model with in-graph pre- and post-processing.

    ``dtype`` is the compute type of the network body (float16 for FP16 exports); pre-processing
    and the logits before ArgMax stay in float32, where FP16 could overflow or tie.
    """

    def __init__(self, model: nn.Module, mean, std, logits: bool = False, dtype: torch.dtype = torch.float32,
                 confidence: bool = False) -> None:
        super().__init__()
        self.model = model  # already in ``dtype``: an FP16 body may hold FP32 islands that a cast would undo
        self.logits = logits
        self.confidence = confidence
        self.dtype = dtype
        std_t = torch.tensor(std, dtype=torch.float32)
        # BGR order: the frame arrives as OpenCV delivers it, and the flip is folded into these constants.
        self.register_buffer("scale", (1.0 / (255.0 * std_t)).flip(0).view(1, 3, 1, 1))
        self.register_buffer("shift", (torch.tensor(mean, dtype=torch.float32) / std_t).flip(0).view(1, 3, 1, 1))

    def forward(self, frame: torch.Tensor):
        x = frame.permute(0, 3, 1, 2).to(torch.float32) * self.scale - self.shift
        x = x.flip(1)  # BGR -> RGB, after normalising in BGR order with flipped constants
        out = self.model(x.to(self.dtype)).to(torch.float32)
        if self.logits:
            return out
        mask = out.argmax(1).to(torch.float32).to(torch.uint8)
        if not self.confidence:
            return mask
        # max softmax probability = 1 / sum(exp(logit - max logit)), in FP32 whatever the body ran in;
        # floor(x + 0.5) rounds, then the float -> uint8 cast every TensorRT release parses.
        top = out.amax(1, keepdim=True)
        prob = torch.reciprocal(torch.exp(out - top).sum(1))
        return mask, torch.floor(prob * 255.0 + 0.5).to(torch.uint8)
