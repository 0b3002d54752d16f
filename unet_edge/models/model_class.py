"""A model from its code: ``MODULE:NAME`` imported (with the current directory and ``--python-path``
on sys.path), built with its kwargs, and given weights with one-line errors; and the body of a
checkpoint that ``unet-edge train --model-class`` wrote, re-created from what it records.

Apart from models/foreign.py (which reads model files) so that models/checkpoint.py can rebuild a
trained foreign model without importing the file readers that know the checkpoint format.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from unet_edge.core.errors import CheckpointError, ConfigError, ModelError
from unet_edge.core.lazy import require

SHOW = 3  # keys named in a mismatch message


def build_model(class_path: str, kwargs: dict, python_path: tuple[str, ...] = ()):
    """``MODULE:NAME(**kwargs)``, imported with the current directory and ``python_path`` on sys.path;
    a Hugging Face model class gets ``NAME(NAME.config_class(**kwargs))``."""
    torch = require("torch")
    factory = import_class(class_path, python_path)
    config_class = getattr(factory, "config_class", None)
    try:
        if isinstance(factory, type) and isinstance(config_class, type) and "config" not in kwargs:
            # A Hugging Face model class takes a config object: its kwargs are the config's
            # (SegformerForSemanticSegmentation with {"num_labels": 11}), as from_pretrained merges them.
            model = factory(config_class(**kwargs))
        else:
            model = factory(**kwargs)
    except Exception as exc:
        raise ModelError(f"cannot build {class_path}(**{json.dumps(kwargs)}): {type(exc).__name__}: "
                         f"{first_line(exc)}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"{class_path}(...) returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def import_class(class_path: str, python_path: tuple[str, ...] = ()):
    module_name, sep, attr = class_path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model-class '{class_path}': expected MODULE:NAME, e.g. torchvision.models."
                          "segmentation:lraspp_mobilenet_v3_large")
    extend_path(python_path)
    from unet_edge.models.torchvision_cpu import prepare

    prepare()  # user code that imports torchvision gets it working beside the CPU torch
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # user code may raise anything at import time
        where = ", ".join(["the current directory", *python_path])
        raise ModelError(f"--model-class '{class_path}': cannot import '{module_name}' ({type(exc).__name__}: "
                         f"{first_line(exc)}); searched {where} and the installed packages "
                         "(add a folder with --python-path DIR)") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"--model-class '{class_path}': module '{module_name}' has no '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"--model-class '{class_path}' is not a class or function")
    return obj


def load_weights(model, state: dict, path: Path, class_path: str) -> None:
    """``load_state_dict`` with one line naming the first missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    if all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in own):
        state = {k[len("module."):]: v for k, v in state.items()}  # saved from DataParallel/DDP
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{len(items)} {what} ({', '.join(items[:SHOW])}{', ...' if len(items) > SHOW else ''})"
                for what, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("shape mismatches, file vs model", shapes)) if items]
    if problems:
        raise CheckpointError(f"{path}: the weights do not fit {class_path}: {'; '.join(problems)}")
    model.load_state_dict(state)


def extend_path(dirs: tuple[str, ...]) -> None:
    for d in [*dirs, "."][::-1]:
        full = str(Path(d).resolve())
        if full not in sys.path:
            sys.path.insert(0, full)


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def trainable_body(model, contract, size: tuple[int, int], info, class_path: str):
    """``model`` wrapped to the body contract (models/foreign_module.py) for training on a dataset of
    ``info``'s classes, and the contract to record: the classes, ``size`` and the logits' layout found."""
    from dataclasses import replace

    from unet_edge.models.foreign_module import wrap

    body, found = wrap(model.eval(), replace(contract, classes=(), palette=()), size)
    if body.num_classes != info.num_classes:
        raise ModelError(f"{class_path} outputs {body.num_classes} classes but the dataset has {info.num_classes}: "
                         "give the model that many in --model-kwargs (e.g. '{\"num_classes\": "
                         f"{info.num_classes}}}')")
    layout = None if body.class_axis is None else ("nchw" if body.class_axis == 1 else "nhwc")
    recorded = replace(found.with_classes(info), size=tuple(size), output_layout=layout,
                       output_kind="ids" if layout is None else "logits")
    return body, recorded


def body_from_checkpoint(ckpt, source: str = "checkpoint"):
    """The body of a checkpoint of ``unet-edge train --model-class``: the class re-created from the
    recorded class path, kwargs and python path, its weights loaded, wrapped per the recorded contract."""
    from unet_edge.models.contract import IOContract
    from unet_edge.models.foreign_module import ContractModule

    src = ckpt.model_source
    contract = IOContract.from_json(ckpt.contract)
    try:
        model = build_model(src["class"], dict(src.get("kwargs") or {}), tuple(src.get("python_path") or ()))
    except (ModelError, ConfigError) as exc:
        raise ModelError(f"{source}: was trained with --model-class {src['class']}, which cannot be re-created "
                         f"here: {exc}") from exc
    load_weights(model, ckpt.state_dict, Path(source), src["class"])
    axis = None if contract.output_kind == "ids" else (1 if contract.output_layout != "nhwc" else 3)
    body = ContractModule(model.eval(), contract, ckpt.num_classes, axis).eval()
    if ckpt.output_offsets is not None:  # a head without a bias (training/logit_adjust.py)
        body.add_offset(require("torch").tensor(ckpt.output_offsets))
    return body
