"""unet_edge.runtime: torch-free inference from built artifacts (.onnx, .engine) and their contract.

Imports are lazy so that ``import unet_edge.runtime`` costs nothing and never pulls torch or onnx.
"""

from __future__ import annotations

__all__ = ["Segmenter", "open_runner", "load_meta"]


def __getattr__(name: str):
    if name == "open_runner":
        from unet_edge.runtime.runners import open_runner

        return open_runner
    if name == "Segmenter":
        from unet_edge.runtime.segmenter import Segmenter

        return Segmenter
    if name == "load_meta":
        from unet_edge.core.artifact import load_meta

        return load_meta
    raise AttributeError(f"module 'unet_edge.runtime' has no attribute {name!r}")
