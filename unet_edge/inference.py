"""PyTorch inference from a checkpoint, behind the same runner contract as the runtime's runners:
a context manager with ``infer(frame_uint8_bgr) -> mask_uint8`` at the model's input size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unet_edge.errors import ConfigError


class TorchRunner:
    """Runs a training checkpoint in eager PyTorch (FP32, ``inference_mode``).

    ``layout`` is the activations' memory format: ``channels_last`` (the default, and what
    training uses: frames arrive NHWC, and oneDNN's convolutions are fastest on it) or
    ``nchw``, PyTorch's default contiguous format, i.e. a plain ``model(x)``.
    """

    backend = "torch"
    precision = "fp32"
    LAYOUTS = ("channels_last", "nchw")

    def __init__(self, checkpoint: str | Path, device: str = "cpu", input_size: tuple[int, int] | None = None,
                 layout: str = "channels_last") -> None:
        from unet_edge.training.checkpoint import load_checkpoint

        if layout not in self.LAYOUTS:
            raise ConfigError(f"unknown layout '{layout}'; choose {' or '.join(self.LAYOUTS)}")
        self.layout = layout
        self.path = Path(checkpoint)
        self.ckpt = load_checkpoint(self.path)
        self.device = device
        self.input_size = tuple(input_size or self.ckpt["input_size"])
        self.classes = list(self.ckpt["classes"])
        self.palette = [tuple(c) for c in self.ckpt["palette"]]
        self.ignore_index = int(self.ckpt["ignore_index"])
        self._model = None
        self.meta = None

    def __enter__(self) -> TorchRunner:
        import torch

        from unet_edge.training.checkpoint import model_from_checkpoint
        from unet_edge.training.loader import Normalizer

        self._torch = torch
        fmt = torch.channels_last if self.layout == "channels_last" else torch.contiguous_format
        self._model = model_from_checkpoint(self.ckpt, str(self.path)).to(self.device, memory_format=fmt)
        self._fmt = fmt
        self._norm = Normalizer(self.ckpt["mean"], self.ckpt["std"]).to(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        self._model = None

    def _forward(self, batch: np.ndarray):
        """Logits (torch, NxCxHxW) of a BGR uint8 NHWC batch; call under inference_mode."""
        x = self._torch.from_numpy(np.ascontiguousarray(batch[..., ::-1])).to(self.device)
        return self._model(self._norm(x).contiguous(memory_format=self._fmt))

    def logits(self, frame: np.ndarray) -> np.ndarray:
        """Float32 logits CxHxW of one BGR frame at the input size."""
        with self._torch.inference_mode():
            return self._forward(frame[None])[0].float().cpu().numpy()

    def infer(self, frame: np.ndarray) -> np.ndarray:
        """BGR uint8 HxWx3 (or NxHxWx3) at the input size -> class ids uint8 HxW (or NxHxW)."""
        if self._model is None:
            raise RuntimeError("use the runner as a context manager: with TorchRunner(...) as r")
        if frame.dtype != np.uint8 or frame.shape[-1] != 3 or frame.ndim not in (3, 4):
            raise ConfigError(f"expected uint8 HxWx3 BGR frames, got {frame.dtype} {frame.shape}")
        batch = frame[None] if frame.ndim == 3 else frame
        if tuple(batch.shape[1:3]) != self.input_size:
            raise ConfigError(f"frame is {batch.shape[1]}x{batch.shape[2]}, model input is "
                              f"{self.input_size[0]}x{self.input_size[1]}")
        with self._torch.inference_mode():
            out = self._forward(batch).argmax(1).to(self._torch.uint8).cpu().numpy()
        return out[0] if frame.ndim == 3 else out


def open_runner(path: str | Path, device: str = "cpu", input_size: tuple[int, int] | None = None):
    """A runner for any model artifact: a checkpoint (.pt) in PyTorch, .onnx/.engine via the runtime."""
    suffix = Path(path).suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt"):
        return TorchRunner(path, device, input_size)
    if suffix in (".onnx", ".engine", ".plan", ".trt"):
        from unet_edge.runtime.runners import open_runner as open_artifact

        runner = open_artifact(path, device=device)
        if input_size and runner.meta.input_size and tuple(input_size) != runner.meta.input_size:
            raise ConfigError(f"{path} is fixed at {runner.meta.input_size[0]}x{runner.meta.input_size[1]}; "
                              "--size applies to checkpoints and dynamic exports only")
        if input_size:
            runner.input_size = tuple(input_size)
        return runner
    raise ConfigError(f"{path}: unsupported model file type '{suffix}'; expected .pt, .onnx or .engine")
