"""unet-edge: train, export and stream U-Net semantic segmentation on the edge.

Importing this package stays cheap: no torch, no onnx. Heavy parts load on use.
"""

from __future__ import annotations

from unet_edge.core.errors import UnetEdgeError

__version__ = "0.1.0"
__all__ = ["UnetEdgeError", "__version__"]
