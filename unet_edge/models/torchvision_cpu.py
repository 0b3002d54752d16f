"""Import torchvision beside a CPU-only torch whose matching CPU torchvision is not on PyPI.

PyPI's x86_64 torchvision wheels are CUDA builds: beside the CPU torch their C++ ops library does
not load (it links libtorch_cuda), which torchvision tolerates, except that it then registers
fake kernels for ``torchvision::nms`` and ``qnms`` unconditionally and fails to import
("operator torchvision::nms does not exist"). Defining those two operators first, with a pure-torch
CPU ``nms``, lets it import; the models (segmentation included) are plain PyTorch and run as usual.
Only the other C++ ops (roi_align, deform_conv2d, image decoding) stay unavailable, as torchvision says
when one is called. Where torchvision's own ops load, nothing here is used.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

_LIB = None  # the torch.library.Library defining the two operators; kept alive for the process


def import_torchvision() -> ModuleType:
    """``import torchvision``, defining the missing operators when its C++ ops cannot load."""
    if "torchvision" in sys.modules and hasattr(sys.modules["torchvision"], "models"):
        return sys.modules["torchvision"]
    try:
        import torchvision

        return torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc) or _LIB is not None:
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package, so that the import below starts afresh
    _define_ops()
    import torchvision
    import torchvision.ops.boxes as boxes

    boxes._assert_has_ops = lambda: None  # nms and batched_nms run on the operator defined here
    return torchvision


def prepare() -> None:
    """Make a later ``import torchvision`` (e.g. in a user's model code) work, where it is installed."""
    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is not None:
        import_torchvision()


def _define_ops() -> None:
    import torch

    global _LIB
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.impl("nms", _nms, "CPU")


def _nms(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first."""
    import torch

    order = scores.argsort(descending=True)
    boxes = dets[order]
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        iou = inter / (area[i] + area - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]
