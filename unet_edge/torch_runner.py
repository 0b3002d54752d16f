"""PyTorch inference from a checkpoint, as a runner like the runtime's: the reference that export
verification and ``bench`` compare every artifact with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unet_edge.core.artifact import FORMAT, MAJOR, MINOR, ArtifactMeta
from unet_edge.core.errors import ConfigError
from unet_edge.data.classes import ClassInfo
from unet_edge.runtime.runners import Runner
from unet_edge.runtime.runners.base import Stages

if TYPE_CHECKING:
    from unet_edge.models.checkpoint import Checkpoint


def checkpoint_meta(ckpt: Checkpoint, path: Path, input_size: Sequence[int]) -> ArtifactMeta:
    """The artifact contract of a checkpoint run in eager PyTorch at ``input_size`` (any batch)."""
    return reference_meta(ckpt.info, path, input_size, ckpt.input_size)


def reference_meta(info: ClassInfo, path: Path, input_size: Sequence[int],
                   train_size: Sequence[int] | None = None) -> ArtifactMeta:
    """The artifact contract of a float reference model (eager PyTorch, or a source ONNX graph) that takes
    BGR frames at ``input_size`` and outputs class ids, any batch."""
    h, w = input_size
    data = {"format": FORMAT, "version": MAJOR, "version_minor": MINOR, "classes": list(info.names),
            "palette": [list(c) for c in info.palette], "ignore_index": info.ignore_index, "precision": "fp32",
            "train_input_size": list(train_size or input_size),
            "input": {"name": "frame", "shape": ["N", h, w, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                      "multiple_of": 1},
            "outputs": [{"name": "mask", "shape": ["N", h, w], "dtype": "uint8", "semantics": "class_ids"}]}
    return ArtifactMeta.from_dict(data, path, str(path))


class TorchRunner(Runner):
    """Runs a training checkpoint in eager PyTorch (FP32, ``inference_mode``).

    ``layout`` is the activations' memory format: ``channels_last`` (the default, and what
    training uses: frames arrive NHWC, and oneDNN's convolutions are fastest on it) or
    ``nchw``, PyTorch's default contiguous format, i.e. a plain ``model(x)``.
    """

    backend = "torch"
    LAYOUTS = ("channels_last", "nchw")

    def __init__(self, checkpoint: str | Path, device: str = "cpu", input_size: Sequence[int] | None = None,
                 layout: str = "channels_last", ckpt: Checkpoint | None = None) -> None:
        """``ckpt``: the checkpoint-like record of ``checkpoint`` where it is already read (a foreign model's)."""
        from unet_edge.models.checkpoint import load_checkpoint

        if layout not in self.LAYOUTS:
            raise ConfigError(f"unknown layout '{layout}'; choose {' or '.join(self.LAYOUTS)}")
        path = Path(checkpoint)
        self.ckpt = ckpt if ckpt is not None else load_checkpoint(path)
        super().__init__(checkpoint_meta(self.ckpt, path, input_size or self.ckpt.input_size))
        self.layout, self.device = layout, device
        self._model = None

    def _activate(self) -> None:
        import torch

        from unet_edge.models.normalize import Normalizer

        self._torch = torch
        self._fmt = torch.channels_last if self.layout == "channels_last" else torch.contiguous_format
        self._model = self._load_model()
        self._norm = Normalizer(self.ckpt.mean, self.ckpt.std).to(self.device)

    def _load_model(self):
        """The model on the device (subclasses: another way to build it)."""
        from unet_edge.models.checkpoint import model_from_checkpoint

        return model_from_checkpoint(self.ckpt, str(self.path)).to(self.device, memory_format=self._fmt)

    def _deactivate(self) -> None:
        self._model = None

    def _forward(self, batch: np.ndarray):
        """Logits (torch, NxCxHxW) of a BGR uint8 NHWC batch; call under inference_mode."""
        x = self._torch.from_numpy(np.ascontiguousarray(batch[..., ::-1])).to(self.device)
        return self._model(self._norm(x).contiguous(memory_format=self._fmt))

    def logits(self, frame: np.ndarray) -> np.ndarray:
        """Float32 logits CxHxW of one BGR frame at the input size."""
        batch = self.check_frame(frame)
        with self._torch.inference_mode():
            return self._forward(batch)[0].float().cpu().numpy()

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:
        with self._torch.inference_mode():
            mask = self._forward(batch).argmax(1).to(self._torch.uint8).cpu().numpy()
        return {"mask": mask}, {}
