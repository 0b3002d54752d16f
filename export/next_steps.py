"""What to run after an export: the fastest artifact that passed its gate, and an eval that fits the
model's own class table."""

from __future__ import annotations

from pathlib import Path

from unet_edge.core.artifact import load_meta
from unet_edge.data import LAYOUT_NAMES
from unet_edge.data.classes import CAMVID, carla_classes


def fastest_passed(artifacts: list[Path], rows: list[dict], reports: dict[str, dict]) -> Path:
    """The artifact to run on this machine: the CPU INT8 one where it passed and measured faster than
    FP32 here, else FP32 (FP16 and TensorRT INT8 ONNX are for a TensorRT build on the device)."""
    passed = {r["artifact"] for r in rows if r.get("passed")} if rows else {p.name for p in artifacts}
    fp32 = artifacts[0]
    for path in artifacts:
        speed = (reports.get(str(path)) or {}).get("int8", {}).get("speed") or {}
        if path.name in passed and path.name.endswith(".int8-cpu.onnx") and speed.get("speedup", 0) > 1.05:
            return path
    return fp32


def dataset_layout(classes: list[str]) -> str | None:
    """The dataset layout whose class table is the model's (camvid, carla), or None."""
    if list(classes) == list(CAMVID.names):
        return "camvid"
    if classes and list(classes) == list(carla_classes(len(classes)).names):
        return "carla"
    return None


def next_steps(artifacts: list[Path], engines: list[Path], rows: list[dict], reports: dict[str, dict],
               frames: str | None = None) -> list[str]:
    """The commands to try next, fitted to what was written and to the model's classes."""
    model = engines[0] if engines else fastest_passed(artifacts, rows, reports)
    lines = [f"unet-edge run --model {model} --source VIDEO_OR_CAMERA --save out.mp4",
             f"unet-edge bench --model {model}"]
    tensorrt = [p for p in artifacts if p.name.endswith((".fp16.onnx", ".int8.onnx"))]
    if tensorrt and not engines:
        lines.append(f"unet-edge build {tensorrt[0]}  (on the Jetson or GPU box)")
    layout, path = (frames or "").partition(":")[::2]  # --verify-data or --calib
    fits = dataset_layout(load_meta(artifacts[0]).classes)
    if layout in LAYOUT_NAMES and path and layout in (fits, "folder"):  # the frames given, in the model's classes
        lines.append(f"unet-edge eval --model {model} --data {path} --dataset {layout}")
    else:
        data = (f"--data DATA --dataset {fits}" if fits else
                "--data DATA --dataset folder  (images/ + masks/ in the model's classes)")
        lines.append(f"unet-edge eval --model {model} {data}")
    return lines
