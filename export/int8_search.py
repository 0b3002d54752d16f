"""Accuracy-targeted INT8: calibrate, and if the graph misses the agreement target, keep the most
sensitive layers in float, most sensitive first, until it meets it.

Layers are named by their PyTorch module path (``enc1.conv.0``), so one decision serves both INT8
flavours although the CPU flavour rewrites the up-sampling. Sensitivity of a layer: the agreement
gained on a few calibration frames with only that layer left in float, all from one calibration.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.errors import ExportError
from unet_edge.core.lazy import require
from unet_edge.export.int8 import quantize, sensitive_convs
from unet_edge.export.naming import module_path

METHODS = ("minmax", "percentile", "entropy")


def layer_names(onnx_path: Path, modules: Sequence[str]) -> dict[str, str]:
    """Quantizable node name -> the PyTorch module it came from."""
    onnx = require("onnx")
    known = set(modules)
    return {n.name: module_path(n.name, known) for n in onnx.load(str(onnx_path)).graph.node
            if n.op_type in ("Conv", "ConvTranspose")}


@dataclass
class SearchResult:
    method: str
    float_layers: list[str]  # module paths kept in float
    float_nodes: list[str]  # their ONNX node names in this graph
    agreement: float
    tried: list[dict] = field(default_factory=list)  # the search's steps, for the sidecar
    seconds: float = 0.0


def _agreement(path: Path, frames: list[np.ndarray], ref: list[np.ndarray], contract: dict) -> float:
    from unet_edge.core.artifact import ArtifactMeta
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    # a trial graph has no sidecar of its own: it keeps the source's contract
    with OnnxRuntimeRunner(path, meta=ArtifactMeta.from_dict(contract, path)) as r:
        return float(np.mean([np.mean(r.infer(f) == m) for f, m in zip(frames, ref)]))


def search(source: Path, dest: Path, calib: list[np.ndarray], target_frames: list[np.ndarray],
           target_ref: list[np.ndarray], target: str, min_agreement: float, modules: Sequence[str],
           methods: Sequence[str] = METHODS, max_float_layers: int = 12, max_seconds: float = 1800.0,
           probe: int = 4, log: Callable[[str], None] = print,
           contract_of: Path | None = None) -> tuple[dict, SearchResult]:
    """Write the INT8 QDQ graph of ``source`` to ``dest`` that meets ``min_agreement`` on
    ``target_frames`` (against the FP32 masks ``target_ref``), with as few float layers as it can.
    ``contract_of`` is the artifact whose sidecar describes the graph (default: ``source``)."""
    from unet_edge.core.artifact import load_meta, stamp

    t0 = time.monotonic()
    contract = stamp(load_meta(contract_of or source, check_hash=False).to_dict())
    names = layer_names(source, modules)
    by_layer: dict[str, list[str]] = {}
    for node, layer in names.items():
        by_layer.setdefault(layer, []).append(node)
    base = sensitive_convs(source)
    base_layers = sorted({names[n] for n in base if n in names})
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".int8-search-") as tmp:
        tmp = Path(tmp)
        caches = {m: tmp / f"{m}.calib.json" for m in methods}
        trial = tmp / "trial.onnx"
        builds = 0

        def build(method: str, layers: Sequence[str], out: Path) -> dict:
            nonlocal builds
            builds += 1
            nodes = sorted({n for layer in layers for n in by_layer.get(layer, [])} | set(base))
            return quantize(source, out, calib, target, method, float_nodes=nodes, cache=caches[method],
                            warn=builds == 1)  # the few-frames warning once, not once per trial

        scored = []
        for m in methods:  # the calibration method: the best agreement with the default float layers
            build(m, base_layers, trial)
            scored.append((_agreement(trial, target_frames, target_ref, contract), m))
            log(f"  INT8 calibration {m}: {100 * scored[-1][0]:.2f}% agreement")
        agreement, method = max(scored)
        steps = [{"method": m, "float_layers": base_layers, "agreement": a} for a, m in scored]
        chosen: list[str] = list(base_layers)
        if agreement < min_agreement:
            sens = []
            probe_frames, probe_ref = target_frames[:probe], target_ref[:probe]
            base_probe = _agreement_of(build, method, chosen, trial, probe_frames, probe_ref, contract)
            candidates = [layer for layer in by_layer if layer not in chosen]
            log(f"  {100 * agreement:.2f}% < {100 * min_agreement:.1f}%: measuring {len(candidates)} layers' "
                "sensitivity")
            for layer in candidates:
                if time.monotonic() - t0 > max_seconds:
                    break
                gain = _agreement_of(build, method, [*chosen, layer], trial, probe_frames, probe_ref, contract) \
                    - base_probe
                sens.append((gain, layer))
            for gain, layer in sorted(sens, reverse=True)[:max_float_layers]:
                if agreement >= min_agreement or time.monotonic() - t0 > max_seconds:
                    break
                chosen.append(layer)
                build(method, chosen, trial)
                agreement = _agreement(trial, target_frames, target_ref, contract)
                steps.append({"method": method, "float_layers": list(chosen), "agreement": agreement,
                              "sensitivity": gain})
                log(f"  + {layer} in float (sensitivity {100 * gain:+.2f} pts): {100 * agreement:.2f}%")
        if agreement < min_agreement:
            tried = ", ".join(s["float_layers"][-1] for s in steps[len(methods):] if s["float_layers"]) or "none"
            raise ExportError(f"INT8 reaches at best {100 * agreement:.2f}% agreement (target "
                              f"{100 * min_agreement:.1f}%) with layers in float: {tried}; lower --min-agreement, "
                              "calibrate on more frames, or use FP16")
        quant = build(method, chosen, dest)
    nodes = sorted({n for layer in chosen for n in by_layer.get(layer, [])} | set(base))
    result = SearchResult(method, chosen, nodes, agreement, steps, time.monotonic() - t0)
    return quant, result


def _agreement_of(build, method: str, layers: Sequence[str], out: Path, frames, ref, contract: dict) -> float:
    build(method, layers, out)
    return _agreement(out, frames, ref, contract)


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
