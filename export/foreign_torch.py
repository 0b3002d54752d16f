"""``unet-edge export`` of a PyTorch model unet-edge did not train (code + weights, torch.export,
TorchScript, a trusted pickle): the model becomes a body like any checkpoint's (normalised RGB NCHW
in, NCHW logits at the input size out; models/foreign_module.py), so the export stages (the deploy
graph, FP16, INT8 with layer names from module paths, the gate, engines) run unchanged. The gate's
reference is the same body in eager PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unet_edge.core.errors import ConfigError
from unet_edge.models.checkpoint import Checkpoint
from unet_edge.models.foreign import ForeignSpec, is_foreign, open_foreign
from unet_edge.runtime.runners import Runner
from unet_edge.torch_runner import TorchRunner


@dataclass
class TorchModel:
    """A PyTorch MODEL opened for export: its checkpoint-like record (classes, normalisation, input size,
    what was given), its BatchNorm-folded body, and how to open it as the eager reference at a size."""

    ckpt: Checkpoint
    model: Any  # torch.nn.Module
    open_reference: Callable[[tuple[int, int]], Runner]


def open_torch_model(path: str | Path, spec: ForeignSpec | None, size: tuple[int, int] | None = None,
                log: Callable[[str], None] = print) -> TorchModel:
    """``path`` as a :class:`TorchModel`: a ``unet-edge train`` checkpoint, or a foreign model per ``spec``."""
    from unet_edge.export.fold import fold_batchnorm
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

    path = Path(path)
    if not is_foreign(path, spec):
        check_checkpoint_spec(path, spec)
        ckpt = load_checkpoint(path)
        model = fold_batchnorm(model_from_checkpoint(ckpt, str(path)))
        return TorchModel(ckpt, model, lambda s: TorchRunner(path, input_size=s))
    ckpt = open_foreign(path, spec or ForeignSpec(), size)
    source, contract = ckpt.model_source, ckpt.contract
    log(f"{path.name}: {source['kind']}{' of ' + source['class'] if source['class'] else ''}, "
        f"{contract['layout'].upper()} {contract['color'].upper()} input at {ckpt.input_size[0]}x"
        f"{ckpt.input_size[1]}, {ckpt.num_classes} classes")
    return TorchModel(ckpt, fold_batchnorm(ckpt.module), lambda s: ForeignRunner(ckpt, path, input_size=s))


def check_checkpoint_spec(path: Path, spec: ForeignSpec | None) -> None:
    """A ``unet-edge train`` checkpoint takes no model options but ``--python-path`` (for the code of a
    model trained with ``--model-class``), which is put on sys.path."""
    from dataclasses import replace

    from unet_edge.models.model_class import extend_path

    if spec is None:
        return
    if replace(spec, python_path=()) != ForeignSpec():
        raise ConfigError(f"{path.name} is a 'unet-edge train' checkpoint: it records its classes and input "
                          "contract, so --classes, --rgb/--bgr, --input-norm and the like do not apply")
    extend_path(spec.python_path)


class ForeignRunner(TorchRunner):
    """A foreign model's wrapped body in eager PyTorch, fed like a checkpoint's (``TorchRunner``)."""

    def __init__(self, ckpt: Checkpoint, path: str | Path, device: str = "cpu", input_size: Sequence[int] | None = None,
                 layout: str = "nchw") -> None:
        super().__init__(path, device, input_size, layout, ckpt=ckpt)

    def _load_model(self):
        return self.ckpt.module.to(self.device)
