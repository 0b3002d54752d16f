"""Deploy graphs of small PyTorch modules for the stage tests, made as the export makes them: the body
exported by torch.onnx, read under its contract, wrapped (export/bodies.py, export/deploy_graph.py)."""

from __future__ import annotations

from pathlib import Path

import onnx

from unet_edge.export.bodies import BODY_OUTPUT, body_graph
from unet_edge.export.deploy_graph import deploy_graph
from unet_edge.export.onnx_body import inspect
from unet_edge.export.onnx_export import check, set_metadata
from unet_edge.models.contract import IOContract


def deploy_model(model, mean, std, size: tuple[int, int], logits: bool = False, fp16_keep: list[str] | None = None):
    """The deploy graph (``onnx.ModelProto``) of ``model`` (normalised RGB NCHW in, logits out), with
    ``mean``/``std`` on the [0, 1] scale."""
    contract = IOContract(mean=tuple(255.0 * m for m in mean), std=tuple(255.0 * s for s in std), norm=None,
                          output=BODY_OUTPUT)
    src = inspect(body_graph(model, size, 17), contract, size)
    return deploy_graph(src, 17, logits=logits, fp16_keep=fp16_keep)


def save(graph, path: Path, meta: dict | None = None) -> Path:
    graph = check(graph, str(path))
    if meta is not None:
        set_metadata(graph, meta)
    onnx.save_model(graph, str(path))
    return path


def deploy_onnx(model, mean, std, path: Path, size: tuple[int, int], logits: bool = False,
                meta: dict | None = None) -> Path:
    """``deploy_model`` written to ``path`` (with ``meta`` in its metadata_props)."""
    return save(deploy_model(model, mean, std, size, logits), path, meta)
