"""The input scaling and colour order a model states itself, without a download, so that a user
need not repeat it; where nothing states them, :meth:`IOContract.require_stated` refuses to guess.

Read, in order: a Hugging Face image-processor config beside the weights (``preprocessor_config.json``:
``image_mean``/``image_std`` after ``rescale_factor``); a torchvision builder's named ``weights`` (or
``weights_backbone``) enum, whose ``transforms()`` hold them; a timm ``pretrained_cfg`` on the model or
any submodule (timm models, segmentation_models_pytorch's ``tu-`` encoders); the named
``encoder_weights`` of a segmentation_models_pytorch model. All RGB, as each library feeds its models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unet_edge.models.contract import IOContract

HF_CONFIG = "preprocessor_config.json"


# segmentation_models_pytorch's encoder weights and the scaling each was trained with (smp >= 0.5 keeps
# these in per-encoder configs on the Hugging Face hub; its older releases listed them in the package).
SMP_WEIGHTS = {"advprop": "signed", "imagenet": "imagenet", "imagenet+5k": "imagenet",
               "imagenet+background": "imagenet", "instagram": "imagenet", "noisy-student": "imagenet",
               "noisy-student-475": "imagenet", "ssl": "imagenet", "swsl": "imagenet"}


def declared(model: Any, weights: Path | None, built_by: tuple[str, dict] | None = None) -> tuple[dict, str] | None:
    """(contract changes, where they were read) that ``model``, the files beside ``weights`` or the
    ``(MODULE:NAME, kwargs)`` it was ``built_by`` state."""
    if weights is not None:
        found = _hf_config(Path(weights).parent / HF_CONFIG)
        if found is not None:
            return found
    return (_torchvision_weights(*built_by) if built_by else None) or _timm_cfg(model) or _smp_weights(model)


def settle(contract: IOContract, model: Any, weights: Path | None, what: str, log=None,
           built_by: tuple[str, dict] | None = None) -> IOContract:
    """``contract`` with what the model declares filled in where no option gave it; then a one-line error
    if the colour order or scaling is still unstated."""
    missing = [k for k in ("color", "norm") if k not in contract.origin]
    if missing:
        found = declared(model, weights, built_by)
        if found is not None:
            changes, where = found
            keep = {k: v for k, v in changes.items() if (k in ("mean", "std", "norm") and "norm" in missing)
                    or (k == "color" and "color" in missing)}
            contract = contract.stated(keep, where)
            if log is not None:
                log(f"{what}: input scaling from {where}")
    contract.require_stated(what)
    return contract


def _hf_config(path: Path) -> tuple[dict, str] | None:
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    mean, std = cfg.get("image_mean"), cfg.get("image_std")
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3):
        return None
    scale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0
    if not cfg.get("do_normalize", True):
        mean, std = [0.0] * 3, [1.0] * 3
    # (pixel * scale - mean) / std == (pixel - mean / scale) / (std / scale), on the 0-255 scale
    changes = {"mean": tuple(m / scale for m in mean), "std": tuple(s / scale for s in std), "norm": None,
               "color": "rgb"}  # Hugging Face image processors take RGB
    return changes, f"{path.name} beside the weights"


def _timm_cfg(model: Any) -> tuple[dict, str] | None:
    modules = model.modules() if hasattr(model, "modules") else [model]
    for module in modules:
        cfg = getattr(module, "pretrained_cfg", None)
        if isinstance(cfg, dict) and cfg.get("mean") and cfg.get("std") and len(cfg["mean"]) == 3:
            name = cfg.get("architecture") or type(module).__name__
            return _scaled(cfg["mean"], cfg["std"]), f"timm's pretrained_cfg of {name}"
    return None


def _torchvision_weights(class_path: str, kwargs: dict) -> tuple[dict, str] | None:
    if not class_path.startswith("torchvision."):
        return None
    for key in ("weights", "weights_backbone"):
        name = kwargs.get(key)
        if not isinstance(name, str):
            continue
        try:
            from unet_edge.models.model_class import import_class

            builder = import_class(class_path)  # makes torchvision import beside the CPU torch
            from torchvision.models import get_model_weights

            enum = get_model_weights(builder) if key == "weights" else None
            entry = enum[name.split(".")[-1]] if enum is not None else _backbone_weights(class_path, name)
            t = entry.transforms()
            mean, std = list(t.mean), list(t.std)
        except Exception:  # an unknown name is the builder's own error to give when it is called
            continue
        return _scaled(mean, std), f"torchvision's {key}={name}"
    return None


def _backbone_weights(class_path: str, name: str):
    """The weights enum member a ``weights_backbone`` name ("ResNet50_Weights.IMAGENET1K_V1") refers to."""
    import torchvision.models as tvm

    enum_name, _, member = name.rpartition(".")
    enum = getattr(tvm, enum_name, None) if enum_name else None
    if enum is None:
        raise KeyError(name)
    return enum[member]


def _smp_weights(model: Any) -> tuple[dict, str] | None:
    config = getattr(model, "_hub_mixin_config", None)  # segmentation_models_pytorch keeps its init kwargs
    if not isinstance(config, dict) or not isinstance(config.get("encoder_weights"), str):
        return None
    encoder, weights = str(config.get("encoder_name", "")), config["encoder_weights"]
    preset = SMP_WEIGHTS.get(weights)
    if preset is None or encoder.startswith("tu-"):  # a tu- encoder's timm pretrained_cfg answered above
        return None
    from unet_edge.models.contract import NORM_PRESETS

    mean, std = NORM_PRESETS[preset]
    return ({"mean": mean, "std": std, "norm": preset, "color": "rgb"},
            f"segmentation_models_pytorch's {weights} weights of {encoder}")


def _scaled(mean, std) -> dict:
    """Contract changes for a 0-1 scale RGB mean/std (a preset's exact values where they are one)."""
    from unet_edge.models.contract import NORM_PRESETS

    preset = _preset(mean, std)
    if preset is not None:
        m255, s255 = NORM_PRESETS[preset]
    else:
        m255, s255 = tuple(255.0 * m for m in mean), tuple(255.0 * s for s in std)
    return {"mean": tuple(m255), "std": tuple(s255), "norm": preset, "color": "rgb"}


def _preset(mean, std) -> str | None:
    from unet_edge.models.contract import NORM_PRESETS

    for key, (m, s) in NORM_PRESETS.items():
        if all(abs(a * 255 - b) < 0.05 for a, b in zip(mean, m)) and all(abs(a * 255 - b) < 0.05
                                                                       for a, b in zip(std, s)):
            return key
    return None
