"""ONNX node names back to PyTorch module paths, so precision decisions name layers the same way
in every graph of one model (FP32, FP16, both INT8 flavours) and in TensorRT's network."""

from __future__ import annotations

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
