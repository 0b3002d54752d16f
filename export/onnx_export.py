"""The ONNX checks and the metadata an exported graph carries (the artifact contract, in ``metadata_props``)."""

from __future__ import annotations

import json
from pathlib import Path

from unet_edge.core.artifact import ONNX_KEY, stamp
from unet_edge.core.errors import ArtifactError, ExportError
from unet_edge.core.lazy import require


def check(model, name: str):
    """Run onnx.checker and strict shape inference; returns the shape-inferred model."""
    onnx = require("onnx")
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:
        raise ExportError(f"{name}: exported graph fails the ONNX checker: {str(exc).splitlines()[0][:200]}") from exc


def set_metadata(model, meta: dict) -> None:
    """Store the artifact metadata (the sidecar's content) in ``metadata_props``.

    Adds ``op_types`` to ``meta`` (the caller writes the same dict as the sidecar): the operators a
    runtime must support, so a TensorRT or ORT release can be checked against a graph without opening it.
    """
    meta["op_types"] = sorted({node.op_type for node in model.graph.node})
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_KEY, json.dumps(stamp(meta), sort_keys=True)
    model.producer_name = "unet-edge"


def read_metadata(path: str | Path) -> dict:
    """The metadata stored inside an ONNX file (needs the onnx package)."""
    onnx = require("onnx")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ArtifactError(f"{path}: not a readable ONNX file ({str(exc).splitlines()[0][:160]})") from exc
    for prop in model.metadata_props:
        if prop.key == ONNX_KEY:
            return json.loads(prop.value)
    raise ArtifactError(f"{path}: no unet-edge metadata in the ONNX file")
