"""Version logic for TensorRT builds, kept free of the tensorrt import so it is tested everywhere.

One code path from TensorRT 8.5 (JetPack 5.1) through 10.3 (JetPack 6.x) to 11:
* EXPLICIT_BATCH is passed only before 10 (implicit batch is gone from 10 on).
* From 10.12 precision comes from the network's types (strongly typed): FP16 builds parse the
  mixed-precision FP16 ONNX; BuilderFlag.FP16/INT8 are deprecated there and removed in 11.
* Before 10.12: the FP32 ONNX plus BuilderFlag.FP16; INT8 is always explicit (a QDQ ONNX).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from unet_edge.core.artifact import PRECISIONS
from unet_edge.core.errors import ConfigError

STRONG_TYPING_FROM = (10, 12)


def parse_version(text: str) -> tuple[int, ...]:
    """'10.3.0.26' -> (10, 3, 0, 26)."""
    nums = re.findall(r"\d+", text)
    if not nums:
        raise ConfigError(f"cannot parse TensorRT version '{text}'")
    return tuple(int(n) for n in nums)


@dataclass(frozen=True)
class BuildPlan:
    """What to hand the builder for one precision on one TensorRT version."""

    onnx: str  # which exported graph to parse: "fp32", "fp16" or "int8"
    explicit_batch_flag: bool
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    dla_core: int | None
    progress_monitor: bool = False  # IProgressMonitor exists from TensorRT 10.0; before, elapsed time only
    precision_constraints: bool = False  # weakly typed reduced precision: pin the FP16 export's FP32 layers

    def to_dict(self) -> dict:
        return asdict(self)


def plan_build(version: tuple[int, ...], precision: str, dla_core: int | None = None) -> BuildPlan:
    """Decide flags and input graph for ``precision`` on TensorRT ``version``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}'; choose {', '.join(PRECISIONS)}")
    if dla_core is not None and precision == "fp32":
        raise ConfigError("DLA runs only FP16 or INT8: build with --precision fp16 or --precision int8 for --dla")
    strong = version[:2] >= STRONG_TYPING_FROM
    flags: list[str] = []
    if strong:
        onnx = precision
    else:
        onnx = "int8" if precision == "int8" else "fp32"
        if precision in ("fp16", "int8"):
            flags.append("FP16")  # INT8 builds may fall back to FP16 for unquantized layers
        if precision == "int8":
            flags.append("INT8")
    if dla_core is not None:
        flags.append("GPU_FALLBACK")
    return BuildPlan(onnx=onnx, explicit_batch_flag=version[0] < 10, strongly_typed=strong,
                     builder_flags=tuple(flags), dla_core=dla_core, progress_monitor=version[0] >= 10,
                     precision_constraints=not strong and precision in ("fp16", "int8"))


def engine_cache_key(onnx_sha256: str, trt_version: str, gpu_name: str, compute_capability: str, precision: str,
                     shapes: dict, dla_core: int | None, l4t: str | None) -> str:
    """Key of an engine in the cache: everything an engine is tied to."""
    blob = json.dumps({"onnx": onnx_sha256, "trt": trt_version, "gpu": gpu_name, "cc": compute_capability,
                       "precision": precision, "shapes": shapes, "dla": dla_core, "l4t": l4t}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def build_command(onnx: str | Path, precision: str, out: str | Path | None = None, dla_core: int | None = None) -> str:
    """The exact ``unet-edge build`` line to run on the target device."""
    cmd = f"unet-edge build {onnx} --precision {precision}"
    if dla_core is not None:
        cmd += f" --dla {dla_core}"
    if out:
        cmd += f" --out {out}"
    return cmd


def trtexec_command(onnx: str | Path, plan: BuildPlan, precision: str, out: str | Path, workspace_gb: float,
                    shapes: tuple[tuple[int, ...], ...] | None, input_name: str = "frame",
                    timing_cache: str | Path | None = None) -> str:
    """NVIDIA's trtexec line that builds the same engine, to cross-check a build."""
    cmd = [f"trtexec --onnx={onnx} --saveEngine={out} --memPoolSize=workspace:{int(workspace_gb * 1024)}M"]
    if plan.strongly_typed:
        cmd.append("--stronglyTyped")
    cmd += [f"--{flag.lower()}" for flag in plan.builder_flags if flag in ("FP16", "INT8")]
    if plan.dla_core is not None:
        cmd.append(f"--useDLACore={plan.dla_core} --allowGPUFallback")
    if shapes:
        cmd += [f"--{kind}Shapes={input_name}:{'x'.join(map(str, shape))}"
                for kind, shape in zip(("min", "opt", "max"), shapes)]
    if timing_cache:
        cmd.append(f"--timingCacheFile={timing_cache}")
    return " ".join(cmd)


def polygraphy_command(onnx: str | Path, precision: str, input_shape: tuple[int, ...], input_name: str = "frame"
                       ) -> str:
    """Polygraphy's line that runs TensorRT and ONNX Runtime on the same generated frames and compares them."""
    flag = {"fp16": " --fp16", "int8": " --int8"}.get(precision, "")
    shape = ",".join(map(str, input_shape))
    return (f"polygraphy run {onnx} --trt --onnxrt{flag} --input-shapes {input_name}:[{shape}] "
            f"--val-range {input_name}:[0,255] --check-error-stat median")
