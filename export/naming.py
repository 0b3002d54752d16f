"""ONNX node names back to PyTorch module paths, so precision decisions name layers the same way
in every graph of one model (FP32, FP16, both INT8 flavours) and in TensorRT's network."""

from __future__ import annotations

import re
from collections.abc import Collection


def module_path(node_name: str, known: Collection[str] = ()) -> str:
    """``/model/enc.0/convs/convs.0/convs.0.0/Conv`` -> ``enc.0.convs.0.0``.

    The exporter names each scope relative to its container (``convs.0`` inside ``convs``), so a
    segment continues the path from the longest tail of it that it starts with. With ``known``
    module paths, the longest known prefix is returned (a rewritten ConvTranspose's inner conv
    ``up.up.conv`` is the ``up.up`` of the model it came from)."""
    segs = [s for s in node_name.split("/") if s][:-1]
    if segs and segs[0] == "model":
        segs = segs[1:]
    path: list[str] = []
    for seg in segs:
        parts = seg.split(".")
        k = next((k for k in range(min(len(path), len(parts) - 1), 0, -1) if path[-k:] == parts[:k]), 0)
        path += parts[k:]
    if known:
        for end in range(len(path), 0, -1):
            if ".".join(path[:end]) in known:
                return ".".join(path[:end])
    return ".".join(path) or node_name


# tf2onnx names a Keras layer's nodes by the traced call: StatefulPartitionedCall/<model>/<layer>_1/...
_TF_CALL = re.compile(r"^(?:StatefulPartitionedCall\.)+(?:[A-Za-z]\w*?\.)?")


def display_name(layer: str) -> str:
    """A layer as its framework named it, for messages only (the sidecar keeps the graph's names):
    tf2onnx's ``StatefulPartitionedCall.functional_1.conv2d_16_1`` -> Keras' ``conv2d_16``."""
    if not _TF_CALL.match(layer):
        return layer
    rest = _TF_CALL.sub("", layer)
    # TensorFlow's name scopes append _N to each traced layer: conv2d -> conv2d_1, conv2d_1 -> conv2d_1_2
    return re.sub(r"_\d+$", "", rest.split(".")[-1]) or layer
