"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

Size = Annotated[str, typer.Option(help="input size HxW, e.g. 360x480")]
Provider = Annotated[str, typer.Option(help="ONNX Runtime execution provider: cpu | cuda | tensorrt; or openvino "
                                             "(an .onnx through OpenVINO, with --device and --precision)")]
# OpenVINO's device and inference precision (--provider openvino); never OpenVINO's own default precision.
OpenVINODevice = Annotated[str | None, typer.Option("--device", help="OpenVINO device: CPU (default) | GPU | NPU | "
                                                                     "AUTO, where OpenVINO reports it")]
OpenVINOPrecision = Annotated[str | None, typer.Option("--precision", help="OpenVINO inference precision: f32 "
                                                                           "(default) | bf16 (AMX or AVX512-BF16 "
                                                                           "CPUs)")]
