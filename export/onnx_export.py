"""Write the deploy graph to ONNX: opset 17, weights embedded, checked, optionally simplified."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from unet_edge.core.artifact import ONNX_KEY, stamp
from unet_edge.core.errors import ArtifactError, ExportError
from unet_edge.core.io import atomic_path
from unet_edge.core.lazy import require
from unet_edge.export.deploy_module import DeployModule

DEFAULT_OPSET = 17  # TensorRT 8.5/8.6 (JetPack 5, JetPack 6.0) parse opsets up to 17
INPUT, OUTPUT, CONFIDENCE = "frame", "mask", "confidence"


def export_onnx(deploy: DeployModule, dest: Path, size: tuple[int, int], opset: int = DEFAULT_OPSET,
                dynamic: bool = False, simplify: bool = False, meta: dict | None = None) -> Path:
    """Export ``deploy`` to ``dest`` atomically and return it.

    Uses the TorchScript exporter: it emits opset 17 directly, while the dynamo exporter only
    implements opset >= 18 and down-converts afterwards. BatchNorm is folded into the convs.
    """
    onnx = require("onnx")
    frame = torch.zeros(1, size[0], size[1], 3, dtype=torch.uint8)
    names = ["logits"] if deploy.logits else [OUTPUT, CONFIDENCE] if deploy.confidence else [OUTPUT]
    axes = None
    if dynamic:
        axes = {INPUT: {0: "N", 1: "H", 2: "W"}}
        axes.update({n: {0: "N", 2: "H", 3: "W"} if n == "logits" else {0: "N", 1: "H", 2: "W"} for n in names})
    with atomic_path(dest) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic are expected here
        try:
            torch.onnx.export(deploy.eval(), (frame,), str(tmp), opset_version=opset, dynamo=False,
                              input_names=[INPUT], output_names=names, dynamic_axes=axes,
                              do_constant_folding=True)
        except Exception as exc:
            raise ExportError(f"ONNX export failed at opset {opset}: {str(exc).splitlines()[0][:200]}") from exc
        model = onnx.load(str(tmp))
        if simplify:
            model = _simplify(model)
        model = check(model, str(dest))
        if meta is not None:
            set_metadata(model, meta)
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    return dest


def check(model, name: str):
    """Run onnx.checker and strict shape inference; returns the shape-inferred model."""
    onnx = require("onnx")
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:
        raise ExportError(f"{name}: exported graph fails the ONNX checker: {str(exc).splitlines()[0][:200]}") from exc


def _simplify(model):
    try:
        import onnxslim

        return onnxslim.slim(model)
    except ImportError:
        pass
    try:
        from onnxsim import simplify

        simplified, ok = simplify(model)
        return simplified if ok else model
    except ImportError as exc:
        raise ExportError("--simplify needs onnxslim or onnxsim: pip install onnxslim") from exc


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
