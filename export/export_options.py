"""``ExportOptions``: every option of ``unet-edge export``, each declared once with its default, help and
the bounds or choices its value is checked against (``unet_edge.core.options.opt``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unet_edge.core.artifact import INT8_TARGETS
from unet_edge.core.options import opt
from unet_edge.core.parse import parse_size
from unet_edge.export.tensorrt.from_export import DEFAULT_WORKSPACE_GB
from unet_edge.export.thresholds import (
    DEFAULT_AGREEMENT_FLOOR,
    DEFAULT_MAX_CLASS_DROP,
    DEFAULT_MAX_MIOU_DROP,
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_SEARCH_MINUTES,
)

DEFAULT_OPSET = 17  # TensorRT 8.5/8.6 (JetPack 5, JetPack 6.0) parse opsets up to 17
DEFAULT_CALIB_FRAMES = 500
DEFAULT_VERIFY_FRAMES = 24
MIN_OPSET = 13  # per-channel QuantizeLinear (INT8 weights) came with opset 13


def _points(value: float) -> float:
    return value / 100


@dataclass
class ExportOptions:
    """Every option of ``unet-edge export`` with its default and help (the CLI is bound to it)."""

    fp16: bool = opt(False, "also write the mixed-precision FP16 ONNX")
    int8: bool = opt(False, "also write an INT8 QDQ ONNX (needs --calib)")
    calib: str | None = opt(None, "calibration frames: DIR, VIDEO or LAYOUT:PATH")
    calib_frames: int = opt(DEFAULT_CALIB_FRAMES, "frames used for calibration", min=1)
    calib_method: str | None = opt(None, "minmax | percentile | entropy (default: try each, keep the best)")
    # INT8: pixel agreement with the FP32 model, a floor beside accuracy where the verification frames have
    # labels, the criterion without (None: DEFAULT_AGREEMENT_FLOOR or DEFAULT_MIN_AGREEMENT)
    min_agreement: float | None = opt(
        None, "INT8: pixel agreement with the FP32 model (a fraction). Where the verification frames have labels, "
              f"a floor beside accuracy (default {DEFAULT_AGREEMENT_FLOOR}); without, the criterion (default "
              f"{DEFAULT_MIN_AGREEMENT})", show_default=False, min=0, max=1)
    # fractions inside, points on the command line
    max_miou_drop: float = opt(DEFAULT_MAX_MIOU_DROP, "INT8 and FP16, where the verification frames have labels: "
                               "at most this many mIoU points lost", shown=100 * DEFAULT_MAX_MIOU_DROP,
                               parse=_points)
    max_class_drop: float = opt(DEFAULT_MAX_CLASS_DROP, "and no class's IoU down by more than this many points",
                                shown=100 * DEFAULT_MAX_CLASS_DROP, parse=_points)
    int8_search_minutes: float = opt(DEFAULT_SEARCH_MINUTES,
                                     "budget of INT8's float-layer search (calibration not counted)", min=0)
    int8_target: str = opt(INT8_TARGETS[0], f"INT8 flavour: {' | '.join(INT8_TARGETS)} (cpu: ONNX Runtime's "
                                                    "quantizer; openvino: NNCF's, run with --provider openvino)",
                           choices=INT8_TARGETS)
    opset: int = opt(DEFAULT_OPSET, min=MIN_OPSET)
    dynamic: bool = opt(False, "dynamic batch/height/width: multiples of the model's stride (32 for the EfficientNet "
                               "U-Nets and camvid-lite0, 16 for unet and unet-lite; the sidecar's multiple_of)")
    simplify: bool = opt(False, "simplify with onnxslim/onnxsim")
    logits: bool = opt(False, "output raw logits instead of class ids")
    confidence: bool = opt(False, "a second output: uint8 255 x max softmax probability")
    subpixel: bool = opt(False, "ConvTranspose -> Conv + DepthToSpace (exact)")
    size: tuple[int, int] | None = opt(None, "input HxW, multiples of the model's stride (default: the training "
                                             "size)", cli_type=str | None, parse=parse_size)
    out: Path | None = opt(None, "output folder (default: beside the checkpoint)")
    verify_data: str | None = opt(None, "frames: LAYOUT:PATH, DIR or VIDEO")
    verify_frames: int = opt(DEFAULT_VERIFY_FRAMES, min=1)
    verify: bool = opt(True, "check parity with the source model", flags=("--verify/--no-verify",))
    build: bool = opt(True, "build engines if TensorRT imports", flags=("--build/--no-build",))
    workspace_gb: float = opt(DEFAULT_WORKSPACE_GB, "TensorRT workspace in GB", flags=("--workspace",), above=0)
