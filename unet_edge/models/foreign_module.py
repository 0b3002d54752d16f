"""A foreign model as the deploy graph's body: normalised RGB NCHW float in (what DeployModule and
TorchRunner feed every unet-edge model), float NCHW logits at the input size out.

In between, per the model's IOContract: the colour swap and layout its input wants, padding to its
size multiple, the output picked from a dict, tuple or Hugging Face ``ModelOutput``, the class axis
moved to dim 1, and logits at a stride resized bilinearly to the input (``align_corners=False``, as
torchvision's, smp's and Hugging Face's own inference does). Everything downstream (FP16, INT8,
TensorRT, the runtime) then sees the same kind of body as for a checkpoint of ``unet-edge train``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unet_edge.core.errors import ModelError
from unet_edge.models.contract import IOContract

# Class ids become one-hot logits of this height: argmax gives the ids back, and the confidence output
# (max softmax probability) rounds to 255 for any class count the uint8 masks can hold.
ID_LOGIT = 32.0
OUTPUT_KEYS = ("out", "logits", "pred", "masks")  # tried in order when a dict has several entries


class ContractModule(nn.Module):
    """``model`` wrapped to the body contract; ``class_axis`` is 1 (NCHW) or 3 (NHWC) logits, or
    None where the model outputs class ids."""

    def __init__(self, model: nn.Module, contract: IOContract, num_classes: int, class_axis: int | None) -> None:
        super().__init__()
        self.model = model
        self.bgr = contract.color == "bgr"
        self.nhwc = contract.layout == "nhwc"
        self.multiple = contract.multiple_of
        self.size_multiple = contract.multiple_of  # what a dynamic export rounds sizes to
        self.output = contract.output
        self.num_classes = num_classes
        self.class_axis = class_axis
        self.register_buffer("logit_offset", None, persistent=False)

    def add_offset(self, offset: torch.Tensor) -> ContractModule:
        """Per-class constants added to the logits: the logit adjustment of a model whose class head
        has no bias to carry it (training/logit_adjust.py). Not in the state dict: the checkpoint
        records it apart."""
        self.register_buffer("logit_offset", torch.as_tensor(offset, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        return self

    def train(self, mode: bool = True) -> ContractModule:
        self.training = mode
        try:
            self.model.train(mode)
        except NotImplementedError:  # a torch.export program keeps the mode it was exported in
            pass
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.bgr:
            x = x.flip(1)
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))  # zeros after normalising: the dataset mean
        if self.nhwc:
            x = x.permute(0, 2, 3, 1)
        out = pick_output(self.model(x), self.output)
        size = (h + ph, w + pw)
        if self.class_axis is None:
            ids = out.reshape(out.shape[0], 1, out.shape[-2], out.shape[-1]).to(x.dtype)
            if ids.shape[-2:] != size:
                ids = F.interpolate(ids, size=size, mode="nearest")
            classes = torch.arange(self.num_classes, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            out = (ids == classes).to(x.dtype) * ID_LOGIT
        else:
            if self.class_axis == 3:
                out = out.permute(0, 3, 1, 2)
            if out.shape[-2:] != size:
                out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
            if self.logit_offset is not None:
                out = out + self.logit_offset.to(out.dtype)
        return out[..., :h, :w] if ph or pw else out


def pick_output(out: Any, name: str | None) -> torch.Tensor:
    """The tensor ``name`` selects (a dict key, attribute or tuple index); by default ``out``/``logits``
    of a dict or ``ModelOutput``, the first element of a tuple or list."""
    if isinstance(out, torch.Tensor) and name is None:
        return out
    if name is not None:
        if isinstance(out, dict) and name in out:
            return out[name]
        if isinstance(out, (tuple, list)) and name.lstrip("-").isdigit() and -len(out) <= int(name) < len(out):
            return out[int(name)]
        if not isinstance(out, (dict, tuple, list, torch.Tensor)) and isinstance(getattr(out, name, None),
                                                                                 torch.Tensor):
            return getattr(out, name)
        raise ModelError(f"--output '{name}': the model's output has no such entry ({describe(out)})")
    if isinstance(out, dict):  # torchvision's {"out", "aux"}, Hugging Face's ModelOutput (a dict)
        tensors = {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
        key = next((k for k in OUTPUT_KEYS if k in tensors), None)
        if key is None and len(tensors) == 1:
            key = next(iter(tensors))
        if key is None:
            raise ModelError(f"the model returns several outputs ({describe(out)}): pick one with --output NAME")
        return tensors[key]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(getattr(out, "logits", None), torch.Tensor):
        return out.logits
    raise ModelError(f"the model returns {describe(out)}, not a tensor: pick one with --output NAME")


def describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"a tensor {list(out.shape)}"
    if isinstance(out, dict):
        return "a dict of " + ", ".join(f"{k} {describe(v)[9:] if isinstance(v, torch.Tensor) else '?'}"
                                        for k, v in out.items())
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)}"
    return f"a {type(out).__name__}"


def wrap(model: nn.Module, contract: IOContract, size: tuple[int, int]) -> tuple[ContractModule, IOContract]:
    """Probe ``model`` once at ``size`` to find its output's class axis and count, check the count
    against the contract's classes (or name generic classes), and wrap it."""
    from unet_edge.data.classes import default_palette

    h, w = contract.padded(*size)
    probe = torch.zeros(1, 3, h, w)
    if contract.layout == "nhwc":
        probe = probe.permute(0, 2, 3, 1)
    try:
        with torch.inference_mode():
            out = pick_output(model(probe), contract.output)
    except ModelError:
        raise
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        raise ModelError(f"the model fails on a {list(probe.shape)} {contract.layout.upper()} input "
                         f"({type(exc).__name__}: {lines[0][:160]}); check --size, --multiple-of and "
                         "--input-layout") from exc
    axis, count = output_axis(out, contract)
    if contract.classes:
        contract.check_classes(count)
    else:
        from dataclasses import replace

        contract = replace(contract, classes=tuple(f"class_{i}" for i in range(count)),
                           palette=tuple(default_palette(count)))
    return ContractModule(model, contract, count, axis).eval(), contract


def output_axis(out: torch.Tensor, contract: IOContract) -> tuple[int | None, int]:
    """(class axis or None for ids, class count) of a model output, from the contract's class count."""
    shape = list(out.shape)
    if contract.output_kind == "ids" or not out.is_floating_point():
        if len(shape) == 3 or (len(shape) == 4 and 1 in (shape[1], shape[3])):
            if not contract.classes:
                raise ModelError("a model that outputs class ids needs --classes (their count is not in the output)")
            return None, contract.num_classes
        raise ModelError(f"class ids must be Nx(1x)HxW, the model outputs {shape}")
    if len(shape) != 4:
        raise ModelError(f"the model's output is {shape}, not 4-D logits (N, classes, H, W or N, H, W, classes)"
                         + ("; pick another with --output NAME" if contract.output is None else ""))
    n = contract.num_classes
    layout = contract.output_layout
    if layout is None and n:
        fits = [a for a in (1, 3) if shape[a] == n]
        if not fits:
            contract.check_classes(shape[1 if contract.layout == "nchw" else 3], f"the model (output {shape})")
        layout = "nchw" if fits == [1] or (len(fits) == 2 and contract.layout == "nchw") else "nhwc"
    layout = layout or contract.layout
    axis = 1 if layout == "nchw" else 3
    return axis, shape[axis]
