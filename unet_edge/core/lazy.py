"""Lazy imports of optional packages, with errors that name the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from unet_edge.core.errors import MissingDependencyError

# package import name -> (pip extra, what it is needed for)
EXTRAS = {
    "torch": ("train", "training, export and PyTorch inference"),
    "onnx": ("train", "ONNX export and inspection"),
    "onnxscript": ("train", "ONNX export"),
    "onnxruntime": ("cpu", "ONNX Runtime inference; use the 'gpu' extra for CUDA"),
    "tensorrt": ("trt", "TensorRT engines"),
    "openvino": ("openvino", "OpenVINO inference on Intel CPUs, GPUs and NPUs"),
    "matplotlib": ("train", "plots"),
    "safetensors": ("models", "reading .safetensors weights"),
    "nncf": ("nncf", "INT8 for OpenVINO (--int8-target openvino)"),
    "rosbags": ("ros", "ROS 2 bags in (--source BAG) and out (--save-bag)"),
    "ray": ("fleet", "unet-edge label: a fleet's recordings on Ray Data"),
    "av": ("fleet", "unet-edge label: why a video does not decode"),
    "pyarrow": ("fleet", "unet-edge label: the fleet summary in Parquet"),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def missing(module: str) -> str:
    """The one-line reason and fix for a missing optional package (the MissingDependencyError text)."""
    top = module.split(".")[0]
    return str(MissingDependencyError(top, *EXTRAS.get(top, ("dev", ""))))


def require(module: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra, why = EXTRAS.get(top, ("dev", ""))
        # A package that is installed but broken must not be reported as missing.
        if getattr(exc, "name", None) not in (None, module, top):
            raise
        raise MissingDependencyError(top, extra, why) from exc
