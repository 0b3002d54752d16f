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


# --help's panels after the common options (what to write, from what, where, at which size)
PRECISION, INT8, VERIFICATION, OUTPUTS, ADVANCED = "Precision", "INT8", "Verification", "Outputs", "Advanced"
# Why TensorRT's flavour is the default: the edge box this project builds for is a Jetson, and TensorRT refuses the
# other two flavours (export/tensorrt/from_export.py check_int8_flavour); ONNX Runtime on a CPU still runs it.
INT8_TARGET_HELP = ("the box the INT8 file is for: tensorrt = TensorRT's symmetric INT8, for a Jetson or an NVIDIA GPU "
                    "(the default: engines are built from it, TensorRT refuses the others; ONNX Runtime runs it too, "
                    "slower); cpu = ONNX Runtime's uint8 activations, for x86/ARM CPUs (fastest on x86's VNNI); "
                    "openvino = NNCF's, for Intel CPUs and GPUs with --provider openvino")


def _points(value: float) -> float:
    return value / 100


@dataclass
class ExportOptions:
    """Every option of ``unet-edge export`` with its default and help (the CLI is bound to it). The fields'
    order is --help's order (the common ones first); everything constructs it by keyword."""

    fp16: bool = opt(False, "also write the mixed-precision FP16 ONNX")
    int8: bool = opt(False, "also write an INT8 QDQ ONNX (needs --calib)")
    calib: str | None = opt(None, "calibration frames: DIR, VIDEO or LAYOUT:PATH")
    out: Path | None = opt(None, "output folder (default: beside the checkpoint)")
    dynamic: bool = opt(False, "dynamic batch/height/width: multiples of the model's stride (32 for the EfficientNet "
                               "U-Nets and camvid-lite0, 16 for unet and unet-lite; the sidecar's multiple_of)")
    size: tuple[int, int] | None = opt(None, "input HxW, multiples of the model's stride (default: the training "
                                             "size)", cli_type=str | None, parse=parse_size)
    # fractions inside, points on the command line
    max_miou_drop: float = opt(DEFAULT_MAX_MIOU_DROP, "INT8 and FP16, where the verification frames have labels: "
                               "at most this many mIoU points lost", shown=100 * DEFAULT_MAX_MIOU_DROP,
                               parse=_points, panel=PRECISION)
    max_class_drop: float = opt(DEFAULT_MAX_CLASS_DROP, "and no class's IoU down by more than this many points",
                                shown=100 * DEFAULT_MAX_CLASS_DROP, parse=_points, panel=PRECISION)
    # INT8: pixel agreement with the FP32 model, a floor beside accuracy where the verification frames have
    # labels, the criterion without (None: DEFAULT_AGREEMENT_FLOOR or DEFAULT_MIN_AGREEMENT)
    min_agreement: float | None = opt(
        None, "INT8: pixel agreement with the FP32 model (a fraction). Where the verification frames have labels, "
              f"a floor beside accuracy (default {DEFAULT_AGREEMENT_FLOOR}); without, the criterion (default "
              f"{DEFAULT_MIN_AGREEMENT})", show_default=False, min=0, max=1, panel=PRECISION)
    int8_target: str = opt(INT8_TARGETS[0], INT8_TARGET_HELP, choices=INT8_TARGETS, panel=INT8)
    calib_frames: int = opt(DEFAULT_CALIB_FRAMES, "frames used for calibration", min=1, panel=INT8)
    calib_method: str | None = opt(None, "minmax | percentile | entropy (default: try each, keep the best)",
                                   panel=INT8)
    int8_search_minutes: float = opt(DEFAULT_SEARCH_MINUTES, "budget of INT8's float-layer search (calibration not "
                                     "counted)", min=0, panel=INT8)
    verify: bool = opt(True, "check parity with the source model", flags=("--verify/--no-verify",),
                       panel=VERIFICATION)
    verify_data: str | None = opt(None, "frames: LAYOUT:PATH, DIR or VIDEO (default: the held-out part of --calib, "
                                        "else synthetic frames)", panel=VERIFICATION)
    verify_frames: int = opt(DEFAULT_VERIFY_FRAMES, "frames the precision gate compares on", min=1,
                             panel=VERIFICATION)
    logits: bool = opt(False, "output raw logits instead of class ids", panel=OUTPUTS)
    confidence: bool = opt(False, "a second output: uint8 255 x max softmax probability", panel=OUTPUTS)
    opset: int = opt(DEFAULT_OPSET, f"ONNX opset (at least {MIN_OPSET}; {DEFAULT_OPSET}: the newest TensorRT 8.5/8.6 "
                                    "parse)", min=MIN_OPSET, panel=ADVANCED)
    simplify: bool = opt(False, "simplify with onnxslim/onnxsim", panel=ADVANCED)
    subpixel: bool = opt(False, "ConvTranspose -> Conv + DepthToSpace (exact)", panel=ADVANCED)
    build: bool = opt(True, "build engines if TensorRT imports", flags=("--build/--no-build",), panel=ADVANCED)
    workspace_gb: float = opt(DEFAULT_WORKSPACE_GB, "TensorRT workspace in GB", flags=("--workspace",), above=0,
                              panel=ADVANCED)
