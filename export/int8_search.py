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

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.errors import ExportError
from unet_edge.export.equalize import equalize
from unet_edge.export.int8 import quantize, sensitive_convs
from unet_edge.export.int8_layers import COST_FLOOR, METHODS, layer_groups, layer_macs, layer_names, prune
from unet_edge.export.probe import spread
from unet_edge.export.verify import onnx_masks, pixel_agreement

EXACT = 0.999  # float masks of the equalised graph against the plain one: only rounding may differ
MIN_GAIN = 1e-4  # 0.01 points of agreement on the probe frames: below this a layer gains nothing alone


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

    contract = stamp(load_meta(contract_of or source, check_hash=False).to_dict())
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".int8-search-") as tmp:
        s = _Search(source, Path(tmp), calib, target_frames, target_ref, target, min_agreement, modules,
                    contract, log, miou_drop, max_miou_drop, max_seconds)
        if max_float_layers is None:  # a quarter of a deep graph's layers, at least 12
            max_float_layers = max(12, len(s.by_layer) // 4)
        s.calibrate(methods, equalize_activations)
        searched = not s.meets(*s.now)
        if searched:
            s.grow(s.trials(probe), max_float_layers)
        if not s.meets(*s.now):
            s.fail()
        if searched:  # a layer taken early may not be needed once later ones are float
            s.prune()
        quant = s.build(s.chosen, dest)
        quant["equalized_activations"] = s.equalized
    agreement, drop = s.now
    result = SearchResult(s.method, s.chosen, s.nodes(s.chosen), agreement, s.steps, time.monotonic() - s.t0, drop,
                          sum(s.share.get(layer, 0.0) for layer in s.chosen))
    return quant, result


class _Search:
    """The search's state: the float graph INT8 is made from, the calibration kept, the float layers
    chosen, and their (agreement, mIoU drop) (``now``)."""

    def __init__(self, source: Path, tmp: Path, calib, frames, ref, target: str, min_agreement: float,
                 modules: Sequence[str], contract: dict, log, miou_drop, max_miou_drop: float,
                 max_seconds: float) -> None:
        self.t0 = time.monotonic()
        self.source = self.src = source
        self.tmp, self.calib, self.frames, self.ref, self.target = tmp, calib, frames, ref, target
        self.min_agreement, self.max_miou_drop, self.miou_drop = min_agreement, max_miou_drop, miou_drop
        self.contract, self.log, self.max_seconds = contract, log, max_seconds
        self.names = layer_names(source, modules)
        self.by_layer: dict[str, list[str]] = {}
        for node, layer in self.names.items():
            self.by_layer.setdefault(layer, []).append(node)
        self.base = sensitive_convs(source)
        self.base_layers = sorted({self.names[n] for n in self.base if n in self.names})
        macs = layer_macs(source)
        total = sum(macs.values()) or 1.0
        self.share = {layer: sum(macs.get(n, 0.0) for n in nodes) / total for layer, nodes in self.by_layer.items()}
        self.graph, self.method, self.equalized = "plain", "", []
        self.chosen: list[str] = list(self.base_layers)
        self.now = (0.0, 1.0)  # (agreement, mIoU drop) of the chosen layers
        self.steps: list[dict] = []
        self.trial, self.builds = tmp / "trial.onnx", 0

    def nodes(self, layers: Sequence[str]) -> list[str]:
        return sorted({n for layer in layers for n in self.by_layer.get(layer, [])}
                      | (set(self.base) - set(self.names)))

    def build(self, layers: Sequence[str], out: Path, src: Path | None = None, method: str | None = None,
              graph: str | None = None) -> dict:
        self.builds += 1
        method, graph = method or self.method, graph or self.graph
        return quantize(src or self.src, out, self.calib, self.target, method, float_nodes=self.nodes(layers),
                        cache=self.tmp / f"{graph}-{method}.calib.json",
                        warn=self.builds == 1)  # the few-frames warning once, not once per trial

    def measure(self, out: Path, frames=None, ref=None) -> tuple[float, float]:
        masks = onnx_masks(out, frames or self.frames, self.contract)
        if frames is not None:
            return pixel_agreement(masks, ref), 0.0
        return pixel_agreement(masks, self.ref), (self.miou_drop(masks) if self.miou_drop is not None else 0.0)

    def meets(self, agree: float, drop: float) -> bool:
        return agree >= self.min_agreement and drop <= self.max_miou_drop

    def says(self, agree: float, drop: float) -> str:
        # rounded down: 98.996% printed as 99.00% next to a 99.0% target it missed would read as a bug
        mi = f", mIoU {-100 * drop:+.2f} pts" if self.miou_drop else ""
        return f"{np.floor(1e4 * agree) / 100:.2f}% agreement{mi}"

    def out_of_time(self) -> bool:
        return time.monotonic() - self.t0 > self.max_seconds

    def calibrate(self, methods: Sequence[str], equalize_activations: bool) -> None:
        """Pick the calibration method (and the equalised graph, where it helps) by agreement with the
        default float layers."""
        scored = []

        def run(graph: str, src: Path) -> None:
            for m in methods:
                self.build(self.base_layers, self.trial, src, m, graph)
                scored.append((*self.measure(self.trial), m, graph, src))
                self.log(f"  INT8 calibration {m}" + (", activations equalised" if graph != "plain" else "")
                         + f": {self.says(*scored[-1][:2])}")

        def best() -> tuple:
            return max(scored, key=lambda t: (self.meets(t[0], t[1]), t[0] - t[1]))

        run("plain", self.source)
        if equalize_activations and not self.meets(*best()[:2]):
            # exact in float, so only the INT8 error can change; kept only if it agrees better
            path = self.tmp / "equalized.onnx"
            self.equalized = equalize(self.source, path, self.calib, signed=self.target == "tensorrt")
            few = self.frames[:: max(1, len(self.frames) // 4)][:4]
            if self.equalized and pixel_agreement(onnx_masks(path, few, self.contract),
                                                  onnx_masks(self.source, few, self.contract)) < EXACT:
                self.log("  equalised activations change the float graph's masks: not used")  # a rewrite bug
                self.equalized = []
            if self.equalized:
                self.log(f"  equalising {len(self.equalized)} activations' channel ranges")
                run("equalized", path)
        agreement, drop, self.method, self.graph, self.src = best()
        self.now = (agreement, drop)
        if self.graph == "plain":
            self.equalized = []
        self.steps += [{"method": m, "graph": g, "float_layers": self.base_layers, "agreement": a, "miou_drop": d}
                       for a, d, m, g, _ in scored]

    def trials(self, probe: int) -> list[tuple[str, list[str], float | None]]:
        """(label, layers, sensitivity) to try in float, in order: the layers that gain on their own, best
        value first; then whole roles (every depthwise conv, say: many small errors add up where no one
        layer shows); then the rest, which can still matter in company (a huge range is only cured once
        the layer reading it is float too)."""
        frames, ref = spread(self.frames, probe), spread(self.ref, probe)

        def probed(layers: list[str]) -> float:
            self.build(layers, self.trial)
            return self.measure(self.trial, frames, ref)[0]

        base = probed(self.chosen)
        candidates = [layer for layer in self.by_layer if layer not in self.chosen]
        self.log(f"  {self.says(*self.now)} misses {100 * self.min_agreement:.1f}%"
                 + (f" / {100 * self.max_miou_drop:.2f} pts" if self.miou_drop else "")
                 + f": measuring {len(candidates)} layers' sensitivity")
        sens = []
        for layer in candidates:
            if self.out_of_time():
                break
            sens.append((probed([*self.chosen, layer]) - base, layer))
        helps = sorted(((g / max(self.share.get(layer, 0.0), COST_FLOOR), g, layer) for g, layer in sens
                        if g > MIN_GAIN), reverse=True)
        rest = sorted(((g, g, layer) for g, layer in sens if g <= MIN_GAIN), reverse=True)
        roles = sorted((sum(self.share.get(layer, 0.0) for layer in group), key, group)
                       for key, group in layer_groups(list(self.by_layer)).items())
        return [(layer, [layer], gain) for _v, gain, layer in helps] \
            + [(key, group, None) for _c, key, group in roles] \
            + [(layer, [layer], gain) for _v, gain, layer in rest]

    def grow(self, trials: list, max_float_layers: int) -> None:
        """Take layers into float in ``trials`` order while the whole set gains, until the target is met."""
        group_cap = max(max_float_layers, len(self.by_layer) // 2)
        for label, layers, gain in trials:
            new = [layer for layer in layers if layer not in self.chosen]
            added = len(self.chosen) - len(self.base_layers)
            if self.meets(*self.now) or self.out_of_time():
                break
            if not new or added + len(new) > (max_float_layers if gain is not None else group_cap):
                continue
            self.build([*self.chosen, *new], self.trial)
            now = self.measure(self.trial)
            # The probe frames can flatter a layer: keep it only if the whole set gains.
            kept = now[0] - now[1] > self.now[0] - self.now[1] + MIN_GAIN
            cost = sum(self.share.get(layer, 0.0) for layer in new)
            self.steps.append({"method": self.method, "layer": label, "float_layers": [*self.chosen, *new],
                               "agreement": now[0], "miou_drop": now[1], "sensitivity": gain, "macs_share": cost,
                               "kept": kept})
            what = f"sensitivity {100 * gain:+.2f} pts" if gain is not None else f"{len(new)} layers"
            self.log(f"  {'+' if kept else '-'} {label} in float ({what}, {100 * cost:.1f}% of the MACs): "
                     f"{self.says(*now)}" + ("" if kept else ", no better: back to INT8"))
            if kept:
                self.chosen, self.now = [*self.chosen, *new], now

    def prune(self) -> None:
        """Give the layers back to INT8 that the target no longer needs (:func:`int8_layers.prune`)."""
        def without(layers: list[str]) -> tuple[float, float, bool]:
            self.build(layers, self.trial)
            a, d = self.measure(self.trial)
            return a, d, self.meets(a, d)

        self.chosen, *now = prune(self.chosen, self.base_layers, self.share, without, self.now, self.steps,
                                  self.out_of_time, self.log, self.says)
        self.now = tuple(now)

    def fail(self) -> None:
        kept = ", ".join(layer for layer in self.chosen if layer not in self.base_layers) or "none"
        tried = ", ".join(s["layer"] for s in self.steps if "layer" in s) or "none"
        target = f"{100 * self.min_agreement:.1f}%" + (f", mIoU within {100 * self.max_miou_drop:.2f} pts"
                                                      if self.miou_drop else "")
        raise ExportError(f"INT8 reaches at best {self.says(*self.now)} (target {target}) "
                          f"with layers in float: {kept} (layers tried: {tried}); "
                          "lower --min-agreement, calibrate on more frames, or use FP16")

