"""Checkpoints: weights plus everything export and the runtime need, written atomically."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from unet_edge.core.errors import CheckpointError
from unet_edge.core.io import atomic_path
from unet_edge.data.classes import ClassInfo

FORMAT = "unet-edge/checkpoint"
VERSION = 1
REQUIRED = ("arch", "model_options", "num_classes", "classes", "palette", "ignore_index", "mean", "std",
            "input_size", "state_dict")


def build_meta(arch: str, model_options: dict, info, mean, std, input_size, train_args: dict) -> dict:
    """The metadata block shared by every checkpoint of a run."""
    return {
        "format": FORMAT, "version": VERSION, "arch": arch, "model_options": dict(model_options),
        "num_classes": info.num_classes, "classes": list(info.names), "palette": [list(c) for c in info.palette],
        "ignore_index": info.ignore_index, "mean": list(mean), "std": list(std), "input_size": list(input_size),
        "train_args": train_args, "torch_version": str(torch.__version__),
    }


def save_checkpoint(path: str | Path, meta: dict, state_dict: dict, **extra: Any) -> None:
    """Write ``meta`` + weights (+ resume state in ``extra``) to ``path`` atomically."""
    payload = {**meta, **extra, "state_dict": state_dict,
               "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


@dataclass
class ResumeState:
    """What ``train --resume`` continues from (a last.pt)."""

    raw_state_dict: dict  # the trained weights before EMA and logit adjustment
    optimizer: dict
    scheduler: dict
    scaler: dict
    ema: dict | None
    history: list
    best_miou: float
    epoch: int
    rng_torch: Any  # torch.get_rng_state()


@dataclass
class Checkpoint:
    """A checkpoint read once (or a foreign model's equivalent): the model's identity, classes, input
    scaling and size, its weights or built module, and what ``--resume`` needs."""

    arch: str
    model_options: dict
    info: ClassInfo
    mean: tuple[float, ...]  # on the 0-1 scale, RGB
    std: tuple[float, ...]
    input_size: tuple[int, int]
    state_dict: dict | None = None
    metrics: dict | None = None
    train_args: dict = field(default_factory=dict)
    model_source: dict | None = None  # what the model was given as: a --model-class run, a foreign model
    contract: dict | None = None  # its own input/output contract (IOContract.to_json), where it has one
    logit_offsets: list | None = None  # training/logit_adjust.py: in the head's bias, or added after it
    offsets_at_output: bool = False  # a head without a bias: the offsets are added to the logits
    module: Any = None  # a foreign model's wrapped body, already built (never stored)
    resume: ResumeState | None = None

    @property
    def output_offsets(self) -> list | None:
        """The offsets the model's output still needs added (where no head bias took them)."""
        return self.logit_offsets if self.offsets_at_output else None

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @classmethod
    def from_dict(cls, d: dict) -> Checkpoint:
        """The typed value of a checkpoint's dict (as ``torch.save`` wrote it)."""
        resume = None
        if "optimizer" in d:
            resume = ResumeState(d.get("raw_state_dict", d["state_dict"]), d["optimizer"], d["scheduler"],
                                 d["scaler"], d.get("ema"), list(d["history"]), float(d["best_miou"]),
                                 int(d["epoch"]), d["rng"]["torch"])
        return cls(d["arch"], dict(d["model_options"]), ClassInfo(d["classes"], d["palette"], d["ignore_index"]),
                   tuple(d["mean"]), tuple(d["std"]), tuple(d["input_size"]), d["state_dict"], d.get("metrics"),
                   dict(d.get("train_args") or {}), d.get("model_source"), d.get("contract"), d.get("logit_offsets"),
                   d.get("logit_offsets_at") == "output", None, resume)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and check a unet-edge checkpoint; every failure is a one-line CheckpointError."""
    return Checkpoint.from_dict(_read(Path(path), map_location))


def _read(path: Path, map_location) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":  # torch.save writes a zip archive
        raise CheckpointError(f"{path}: not a torch checkpoint (no zip header); expected a file from 'unet-edge train'")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/corrupt files
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        why = lines[0].split(". ")[0]
        raise CheckpointError(f"{path}: cannot read checkpoint (corrupt or truncated): {why[:160]}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a unet-edge checkpoint (no '{FORMAT}' marker); "
                              "train one with 'unet-edge train'")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint format v{ckpt['version']} is newer than this unet-edge "
                              f"(v{VERSION}); upgrade unet-edge")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return ckpt


def model_from_checkpoint(ckpt: Checkpoint, source: str = "checkpoint") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (eval mode); one trained with
    ``--model-class`` is re-created from the class, kwargs and input contract it records."""
    from unet_edge.models import create

    if ckpt.model_source:
        from unet_edge.models.model_class import body_from_checkpoint

        return body_from_checkpoint(ckpt, source)

    model = create(ckpt.arch, num_classes=ckpt.num_classes, **ckpt.model_options)
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1 if "\n" in str(exc) else 0].strip()
        raise CheckpointError(f"{source}: weights do not fit architecture '{ckpt.arch}' with options "
                              f"{ckpt.model_options}: {first[:200]}") from exc
    return model.eval()
