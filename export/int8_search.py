"""Accuracy-targeted INT8: calibrate, and if the graph misses the agreement target, keep the most
sensitive layers in float, best value first, until it meets it.

Layers are named by their PyTorch module path (``enc1.conv.0``), so one decision serves both INT8
flavours although the CPU flavour rewrites the up-sampling. Sensitivity of a layer: the agreement
gained on 16 frames spread over the verification set with only that layer left in float, all from one
calibration. Layers are taken in order of sensitivity per unit of float cost (the layer's share of the
graph's multiply-adds, floored so that near-free layers do not jump the queue on noise): a
full-resolution conv left in float can cost more speed than three small ones. Then whole roles (every
depthwise conv): per-tensor INT8 can lose a little at each of many layers, which no single-layer trial
shows. A layer or role is kept only if the whole verification set agrees better with it in float; once
the target is met, each layer taken is tried back in INT8, costliest first, and stays INT8 if the
target still holds.
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
from unet_edge.export.equalize import equalize
from unet_edge.export.int8 import inferred_shapes, quantize, sensitive_convs
from unet_edge.export.naming import module_path
from unet_edge.export.verify import pixel_agreement

METHODS = ("minmax", "percentile", "entropy")


COST_FLOOR = 0.02  # a layer costs at least 2% of the graph in the ranking: gains of near-free layers are noise
EXACT = 0.999  # float masks of the equalised graph against the plain one: only rounding may differ
MIN_GAIN = 1e-4  # 0.01 points of agreement on the probe frames: below this a layer gains nothing alone


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


@dataclass
class SearchResult:
    method: str
    float_layers: list[str]  # module paths kept in float
    float_nodes: list[str]  # their ONNX node names in this graph
    agreement: float
    tried: list[dict] = field(default_factory=list)  # the search's steps, for the sidecar
    seconds: float = 0.0
    miou_drop: float = 0.0  # FP32 mIoU minus this graph's, against labels (0 without labels)
    float_macs_share: float = 0.0  # share of the graph's multiply-adds left in float


def _masks(path: Path, frames: list[np.ndarray], contract: dict) -> list[np.ndarray]:
    from unet_edge.core.artifact import ArtifactMeta
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    # a trial graph has no sidecar of its own: it keeps the source's contract
    with OnnxRuntimeRunner(path, meta=ArtifactMeta.from_dict(contract, path)) as r:
        return [r.infer(f) for f in frames]


def _agreement(path: Path, frames: list[np.ndarray], ref: list[np.ndarray], contract: dict) -> float:
    return pixel_agreement(_masks(path, frames, contract), ref)


def search(source: Path, dest: Path, calib: list[np.ndarray], target_frames: list[np.ndarray],
           target_ref: list[np.ndarray], target: str, min_agreement: float, modules: Sequence[str],
           methods: Sequence[str] = METHODS, max_float_layers: int | None = None, max_seconds: float = 1800.0,
           probe: int = 16, log: Callable[[str], None] = print,
           contract_of: Path | None = None, miou_drop: Callable[[list[np.ndarray]], float] | None = None,
           max_miou_drop: float = 0.005, equalize_activations: bool = True) -> tuple[dict, SearchResult]:
    """Write the INT8 QDQ graph of ``source`` to ``dest`` that meets ``min_agreement`` on
    ``target_frames`` (against the FP32 masks ``target_ref``), with as few float layers as it can.
    Where the frames have labels, ``miou_drop(masks)`` (the FP32 mIoU minus the graph's) must also stay
    within ``max_miou_drop``: high agreement can still hide a thin class lost. Where the default float
    layers miss, the graph with its activations equalised (:mod:`unet_edge.export.equalize`) is tried too.
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
    macs = layer_macs(source)
    total_macs = sum(macs.values()) or 1.0
    share = {layer: sum(macs.get(n, 0.0) for n in nodes) / total_macs for layer, nodes in by_layer.items()}
    if max_float_layers is None:  # a quarter of a deep graph's layers, at least 12
        max_float_layers = max(12, len(by_layer) // 4)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".int8-search-") as tmp:
        tmp = Path(tmp)
        graphs = {"plain": source}
        trial = tmp / "trial.onnx"
        builds = 0
        graph = "plain"

        def build(method: str, layers: Sequence[str], out: Path) -> dict:
            nonlocal builds
            builds += 1
            nodes = sorted({n for layer in layers for n in by_layer.get(layer, [])} | (set(base) - set(names)))
            return quantize(graphs[graph], out, calib, target, method, float_nodes=nodes,
                            cache=tmp / f"{graph}-{method}.calib.json",
                            warn=builds == 1)  # the few-frames warning once, not once per trial

        def measure(out: Path) -> tuple[float, float]:
            masks = _masks(out, target_frames, contract)
            return pixel_agreement(masks, target_ref), (miou_drop(masks) if miou_drop is not None else 0.0)

        def meets(agree: float, drop: float) -> bool:
            return agree >= min_agreement and drop <= max_miou_drop

        def says(agree: float, drop: float) -> str:
            return f"{100 * agree:.2f}% agreement" + (f", mIoU {-100 * drop:+.2f} pts" if miou_drop else "")

        scored = []

        def calibrate() -> None:
            for m in methods:  # the calibration method: the best agreement with the default float layers
                build(m, base_layers, trial)
                scored.append((*measure(trial), m, graph))
                log(f"  INT8 calibration {m}" + (", activations equalised" if graph != "plain" else "")
                    + f": {says(*scored[-1][:2])}")

        def best() -> tuple:
            return max(scored, key=lambda t: (meets(t[0], t[1]), t[0] - t[1]))

        calibrate()
        equalized: list[str] = []
        if equalize_activations and not meets(*best()[:2]):
            # exact in float, so only the INT8 error can change; kept only if it agrees better
            equalized = equalize(source, tmp / "equalized.onnx", calib, signed=target == "tensorrt")
            few = target_frames[:: max(1, len(target_frames) // 4)][:4]
            if equalized and pixel_agreement(_masks(tmp / "equalized.onnx", few, contract),
                                             _masks(source, few, contract)) < EXACT:
                log("  equalised activations change the float graph's masks: not used")  # a rewrite bug
                equalized = []
            if equalized:
                graphs["equalized"] = tmp / "equalized.onnx"
                graph = "equalized"
                log(f"  equalising {len(equalized)} activations' channel ranges")
                calibrate()
        agreement, drop, method, graph = best()
        if graph == "plain":
            equalized = []
        steps = [{"method": m, "graph": g, "float_layers": base_layers, "agreement": a, "miou_drop": d}
                 for a, d, m, g in scored]
        chosen: list[str] = list(base_layers)
        if not meets(agreement, drop):
            sens = []
            # spread over the set: consecutive video frames would probe one scene several times
            pick = sorted(set(np.linspace(0, len(target_frames) - 1, min(probe, len(target_frames))).astype(int)))
            probe_frames, probe_ref = [target_frames[i] for i in pick], [target_ref[i] for i in pick]
            base_probe = _agreement_of(build, method, chosen, trial, probe_frames, probe_ref, contract)
            candidates = [layer for layer in by_layer if layer not in chosen]
            log(f"  {says(agreement, drop)} misses {100 * min_agreement:.1f}%"
                + (f" / {100 * max_miou_drop:.2f} pts" if miou_drop else "")
                + f": measuring {len(candidates)} layers' sensitivity")
            for layer in candidates:
                if time.monotonic() - t0 > max_seconds:
                    break
                gain = _agreement_of(build, method, [*chosen, layer], trial, probe_frames, probe_ref, contract) \
                    - base_probe
                sens.append((gain, layer))
            # Layers that gain on their own, best value first; then whole roles (every depthwise conv,
            # say: many small errors add up where no one layer shows); then the rest, which can still
            # matter in company (a huge range is only cured once the layer reading it is float too).
            helps = sorted(((g / max(share.get(layer, 0.0), COST_FLOOR), g, layer) for g, layer in sens
                            if g > MIN_GAIN), reverse=True)
            rest = sorted(((g, g, layer) for g, layer in sens if g <= MIN_GAIN), reverse=True)
            roles = sorted((sum(share.get(layer, 0.0) for layer in group), key, group)
                           for key, group in layer_groups(list(by_layer)).items())
            trials = [(layer, [layer], gain) for _v, gain, layer in helps] \
                + [(key, group, None) for _c, key, group in roles] \
                + [(layer, [layer], gain) for _v, gain, layer in rest]
            group_cap = max(max_float_layers, len(by_layer) // 2)
            for label, layers, gain in trials:
                new = [layer for layer in layers if layer not in chosen]
                added = len(chosen) - len(base_layers)
                if meets(agreement, drop) or time.monotonic() - t0 > max_seconds:
                    break
                if not new or added + len(new) > (max_float_layers if gain is not None else group_cap):
                    continue
                build(method, [*chosen, *new], trial)
                now, now_drop = measure(trial)
                # The probe frames can flatter a layer: keep it only if the whole set gains.
                kept = now - now_drop > agreement - drop + MIN_GAIN
                cost = sum(share.get(layer, 0.0) for layer in new)
                steps.append({"method": method, "layer": label, "float_layers": [*chosen, *new], "agreement": now,
                              "miou_drop": now_drop, "sensitivity": gain, "macs_share": cost, "kept": kept})
                what = f"sensitivity {100 * gain:+.2f} pts" if gain is not None else f"{len(new)} layers"
                log(f"  {'+' if kept else '-'} {label} in float ({what}, {100 * cost:.1f}% of the MACs): "
                    f"{says(now, now_drop)}" + ("" if kept else ", no better: back to INT8"))
                if kept:
                    chosen += new
                    agreement, drop = now, now_drop
            if meets(agreement, drop):
                def without(layers: list[str]) -> tuple[float, float, bool]:
                    build(method, layers, trial)
                    now, now_drop = measure(trial)
                    return now, now_drop, meets(now, now_drop)

                chosen, agreement, drop = prune(chosen, base_layers, share, without, (agreement, drop), steps,
                                                lambda: time.monotonic() - t0 > max_seconds, log, says)
        if not meets(agreement, drop):
            kept = ", ".join(layer for layer in chosen if layer not in base_layers) or "none"
            tried = ", ".join(s["layer"] for s in steps if "layer" in s) or "none"
            target_text = f"{100 * min_agreement:.1f}%" + (f", mIoU within {100 * max_miou_drop:.2f} pts"
                                                          if miou_drop else "")
            raise ExportError(f"INT8 reaches at best {says(agreement, drop)} (target {target_text}) "
                              f"with layers in float: {kept} (layers tried: {tried}); "
                              "lower --min-agreement, calibrate on more frames, or use FP16")
        quant = build(method, chosen, dest)
        quant["equalized_activations"] = equalized
    nodes = sorted({n for layer in chosen for n in by_layer.get(layer, [])} | (set(base) - set(names)))
    result = SearchResult(method, chosen, nodes, agreement, steps, time.monotonic() - t0, drop,
                          sum(share.get(layer, 0.0) for layer in chosen))
    return quant, result


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
