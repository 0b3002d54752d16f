"""A float ONNX graph unet-edge did not write, run as it is in ONNX Runtime: the precision gate's FP32
reference for such a graph (the wrapper's pre- and post-processing are re-done here in numpy and
OpenCV, so the FP32 artifact's agreement with it checks the graph surgery too)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from unet_edge.core.artifact import ONNX_KEY
from unet_edge.core.lazy import require
from unet_edge.export.onnx_body import BodyGraph
from unet_edge.runtime.runners import Runner
from unet_edge.runtime.runners.base import Stages


def is_foreign_onnx(path: str | Path) -> bool:
    """An ``.onnx`` without unet-edge's metadata: a graph from another exporter."""
    from unet_edge.core.onnx_props import metadata_props

    path = Path(path)
    if path.suffix.lower() != ".onnx" or not path.is_file():
        return False
    try:
        return ONNX_KEY not in metadata_props(path)
    except (OSError, ValueError):
        return True  # not readable as ONNX: the ONNX loader says why, in one line


class GraphReference(Runner):
    """The user's graph in ONNX Runtime, fed a BGR frame as its contract says (padded with zeros after
    normalising where the contract's multiple asks), its logits resized bilinearly to the padded frame
    and cropped back (``logits``), and their argmax (``infer``; a class-id graph's own ids, resized nearest)."""

    backend = "onnxruntime (source graph)"

    def __init__(self, path: Path, src: BodyGraph) -> None:
        from unet_edge.torch_runner import reference_meta

        c = src.contract
        super().__init__(reference_meta(c.class_info(), Path(path), src.size))
        self.src = src
        mean, std = np.asarray(c.mean, np.float32), np.asarray(c.std, np.float32)
        self.rgb = c.color == "rgb"
        self.mean, self.std = (mean, std) if self.rgb else (mean[::-1], std[::-1])
        self.sess = None

    def _activate(self) -> None:
        ort = require("onnxruntime")
        from onnx import helper

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.dtype = helper.tensor_dtype_to_np_dtype(self.src.input_type)

    def _deactivate(self) -> None:
        self.sess = None

    def _out(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The picked output for one frame (batch dim dropped) and the padded size."""
        x = frame[..., ::-1] if self.rgb else frame
        x = (x.astype(np.float32) - self.mean) / self.std
        h, w = frame.shape[:2]
        ph, pw = self.src.contract.padded(h, w) if self.src.padded != self.src.size else (h, w)
        x = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)))[None]
        if self.src.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return self.sess.run([self.src.output], {self.src.input: x.astype(self.dtype)})[0][0], (ph, pw)

    def logits(self, frame: np.ndarray) -> np.ndarray:
        """CxHxW float32 at the frame's size."""
        out, (ph, pw) = self._out(self.check_frame(frame)[0])
        hwc = out.astype(np.float32)
        if self.src.output_layout == "nchw":
            hwc = hwc.transpose(1, 2, 0)
        if hwc.shape[:2] != (ph, pw):  # OpenCV takes at most 512 channels at once
            hwc = np.concatenate([cv2.resize(hwc[..., i:i + 512], (pw, ph), interpolation=cv2.INTER_LINEAR)
                                  .reshape(ph, pw, -1) for i in range(0, hwc.shape[2], 512)], axis=2)
        h, w = frame.shape[:2]
        return hwc[:h, :w].transpose(2, 0, 1)

    def _mask(self, frame: np.ndarray) -> np.ndarray:
        if self.src.kind == "logits":
            return self.logits(frame).argmax(0).astype(np.uint8)
        out, (ph, pw) = self._out(frame)
        ids = cv2.resize(out.astype(np.float32).squeeze(), (pw, ph), interpolation=cv2.INTER_NEAREST)
        h, w = frame.shape[:2]
        return ids[:h, :w].astype(np.uint8)

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:
        return {"mask": np.stack([self._mask(f) for f in batch])}, {}
