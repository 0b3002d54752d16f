"""INT8 layer bookkeeping for the float-layer search: PyTorch module names of ONNX nodes, their cost
in multiply-adds, roles across the network, and the pruning pass that gives layers back to INT8."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.lazy import require
from unet_edge.export.int8 import inferred_shapes
from unet_edge.export.naming import module_path

METHODS = ("minmax", "percentile", "entropy")
COST_FLOOR = 0.02  # a layer costs at least 2% of the graph in the ranking: gains of near-free layers are noise


def layer_macs(onnx_path: Path) -> dict[str, float]:
    """Conv node name -> multiply-adds per frame, from the shape-inferred graph."""
    model, typed = inferred_shapes(onnx_path)
    shapes = {name: dims for name, (_, dims) in typed.items()}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    macs = {}
    for n in model.graph.node:
        if n.op_type in ("Conv", "ConvTranspose") and n.input[1] in weights:
            out = shapes.get(n.output[0], [])
            # Conv weight (cout, cin/g, kh, kw): each output pixel costs its product.
            spatial = out[2] * out[3] if len(out) == 4 and n.op_type == "Conv" else 0
            if n.op_type == "ConvTranspose":  # (cin, cout/g, kh, kw): each input pixel costs the product
                src = shapes.get(n.input[0], [])
                spatial = src[2] * src[3] if len(src) == 4 else 0
            macs[n.name] = float(np.prod(weights[n.input[1]])) * spatial
    return macs


def layer_names(onnx_path: Path, modules: Sequence[str]) -> dict[str, str]:
    """Quantizable node name -> the PyTorch module it came from."""
    onnx = require("onnx")
    known = set(modules)
    return {n.name: module_path(n.name, known) for n in onnx.load(str(onnx_path)).graph.node
            if n.op_type in ("Conv", "ConvTranspose")}


def layer_groups(layers: Sequence[str]) -> dict[str, list[str]]:
    """Layers of one role across the network, their indices wildcarded: ``encoder._blocks.#._depthwise_conv``,
    ``dec.#.convs.#.#``. Only roles of two layers or more."""
    groups: dict[str, list[str]] = {}
    for layer in layers:
        groups.setdefault(re.sub(r"(?<=\.)\d+(?=\.|$)", "#", layer), []).append(layer)
    return {key: group for key, group in groups.items() if len(group) > 1}


def prune(chosen: list[str], base: Sequence[str], share: dict[str, float],
          without: Callable[[list[str]], tuple[float, float, bool]], now: tuple[float, float],
          steps: list[dict], out_of_time: Callable[[], bool] = lambda: False,
          log: Callable[[str], None] = print, says: Callable[[float, float], str] = lambda a, d: f"{100 * a:.2f}%",
          ) -> tuple[list[str], float, float]:
    """A layer taken early can be redundant once later ones are float: try each layer the search added
    back in INT8, costliest first (``share``), and keep it INT8 while ``without(layers)`` still meets the
    target; then the default float layers that cost at least ``COST_FLOOR`` of the graph (a full-resolution
    head conv), since what the search added may have been what they were guarding against.
    Returns the float layers left and their (agreement, mIoU drop)."""
    agreement, drop = now
    added = [layer for layer in chosen if layer not in base]
    by_cost = sorted(added, key=lambda name: share.get(name, 0.0), reverse=True)
    if len(added) < 2:  # the one layer added was needed: the target was missed without it
        by_cost = []
    by_cost += sorted((layer for layer in base if layer in chosen and share.get(layer, 0.0) >= COST_FLOOR),
                      key=lambda name: share.get(name, 0.0), reverse=True)
    for layer in by_cost:
        if out_of_time():
            break
        fewer = [name for name in chosen if name != layer]
        a, d, ok = without(fewer)
        steps.append({"float_layers": fewer, "agreement": a, "miou_drop": d, "back_to_int8": layer, "kept": not ok})
        log(f"  {'x' if ok else '='} {layer} back to INT8: {says(a, d)}"
            + (", still meets the target" if ok else ", misses: stays float"))
        if ok:
            chosen, agreement, drop = fewer, a, d
    return chosen, agreement, drop


def module_paths(model) -> list[str]:
    """Every named module of a torch model (``enc1.conv.0``), for naming ONNX nodes."""
    return [name for name, _ in model.named_modules() if name]


def parse_methods(text: str | None) -> tuple[str, ...]:
    if not text:
        return METHODS
    methods = tuple(m.strip() for m in re.split(r"[,\s]+", text) if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        from unet_edge.core.errors import ConfigError

        raise ConfigError(f"unknown calibration method {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return methods
