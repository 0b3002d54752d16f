"""The model a run trains: a registered architecture, or the user's own ``--model-class`` module
wrapped as export wraps it (models/foreign_module.py: its output picked from a dict, tuple or
``.logits``, the class axis moved to dim 1, logits at a stride resized bilinearly to the input),
so that training scores the outputs the deployed model gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from torch import nn

from unet_edge.models import create, default_options
from unet_edge.models.contract import IOContract
from unet_edge.training.config import TrainConfig


def build_model(cfg: TrainConfig, info, log: Callable[[str], None]) -> tuple[nn.Module, dict, IOContract | None]:
    """(model, its options as recorded, the input contract of a --model-class model or None)."""
    if cfg.model_class:
        from unet_edge.models.model_class import build_model as build_class
        from unet_edge.models.model_class import trainable_body

        options = dict(cfg.model_kwargs)
        raw = build_class(cfg.model_class, options, cfg.python_path)
        if cfg.pretrained_weights and not cfg.resume:
            load_start_weights(raw, cfg, cfg.model_class, log)
        from unet_edge.models.preprocessing import settle

        contract = IOContract.from_json(cfg.contract) if cfg.contract else IOContract()
        weights = Path(cfg.pretrained_weights) if cfg.pretrained_weights else None
        contract = settle(contract, raw, weights, f"--model-class {cfg.model_class}", log,
                          built_by=(cfg.model_class, options))
        cfg.mean, cfg.std = contract.unit_mean, contract.unit_std  # what the trainer's Normalizer applies
        body, contract = trainable_body(raw, contract, cfg.size, info, cfg.model_class)
        return body, options, contract
    chosen = {"width": cfg.width, "batchnorm": cfg.batchnorm, "decoder": cfg.decoder}
    options = {**default_options(cfg.arch), **{k: v for k, v in chosen.items() if v is not None}}
    model = create(cfg.arch, num_classes=info.num_classes, **options)
    if cfg.pretrained and not cfg.resume:
        log(f"encoder initialised from ImageNet ({model.load_pretrained()} tensors)")
    if cfg.pretrained_weights and not cfg.resume:
        load_start_weights(model, cfg, cfg.arch, log)
    return model, options, None


def load_start_weights(model: nn.Module, cfg: TrainConfig, name: str, log: Callable[[str], None]) -> None:
    """``--pretrained-weights``: a state dict every key of which must fit (one line naming those that do not)."""
    from unet_edge.models.foreign import read_state_dict
    from unet_edge.models.model_class import load_weights

    state = read_state_dict(cfg.pretrained_weights)
    load_weights(model, state, Path(cfg.pretrained_weights), name)
    log(f"weights initialised from {cfg.pretrained_weights} ({len(state)} tensors)")


def source_meta(cfg: TrainConfig, options: dict, contract: IOContract, size: tuple[int, int]) -> dict:
    """What a --model-class checkpoint records for export, eval and bench to re-create the model:
    the class, its kwargs, the folders its code came from, and the input contract at ``size``."""
    return {"model_source": {"kind": "checkpoint", "class": cfg.model_class, "kwargs": options,
                             "python_path": list(cfg.python_path)},
            "contract": replace(contract, size=tuple(size)).to_json()}
