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

Every step is one call of ``evaluate(float_layers) -> (agreement, mIoU drop)``: quantize with those
layers in float under the calibration chosen first, and compare with the FP32 masks.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import INT8_TARGETS
from unet_edge.core.errors import ExportError
from unet_edge.export.frame_sets import spread
from unet_edge.export.int8.calibration import METHODS, quantize
from unet_edge.export.int8.equalize import equalize
from unet_edge.export.int8.graph_facts import layer_groups, layer_macs, layer_names, sensitive_convs
from unet_edge.export.thresholds import DEFAULT_MAX_MIOU_DROP, DEFAULT_MIN_AGREEMENT
from unet_edge.export.verify import onnx_masks, pixel_agreement

EXACT = 0.999  # float masks of the equalised graph against the plain one: only rounding may differ
MIN_GAIN = 1e-4  # 0.01 points of agreement on the probe frames: below this a layer gains nothing alone
COST_FLOOR = 0.02  # a layer costs at least 2% of the graph in the ranking: gains of near-free layers are noise

Score = tuple[float, float]  # (pixel agreement, mIoU drop against labels; 0 without labels)


@dataclass
class SearchOptions:
    """What the search aims at and how far it may go."""

    target: str = INT8_TARGETS[0]  # the INT8 flavour
    min_agreement: float = DEFAULT_MIN_AGREEMENT
    max_miou_drop: float = DEFAULT_MAX_MIOU_DROP
    # FP32 mIoU minus a graph's, from its masks (where the frames have labels): high agreement can
    # still hide a thin class lost
    miou_drop: Callable[[list[np.ndarray]], float] | None = None
    methods: Sequence[str] = tuple(METHODS)
    max_float_layers: int | None = None  # None: a quarter of a deep graph's layers, at least 12
    max_seconds: float = 1800.0
    probe: int = 16  # frames each layer's sensitivity is measured on
    equalize_activations: bool = True
    log: Callable[[str], None] = print

    def meets(self, score: Score) -> bool:
        return score[0] >= self.min_agreement and score[1] <= self.max_miou_drop

    def says(self, score: Score) -> str:
        # rounded down: 98.996% printed as 99.00% next to a 99.0% target it missed would read as a bug
        mi = f", mIoU {-100 * score[1]:+.2f} pts" if self.miou_drop else ""
        return f"{np.floor(1e4 * score[0]) / 100:.2f}% agreement{mi}"

    def aim(self) -> str:
        return f"{100 * self.min_agreement:.1f}%" + (f", mIoU within {100 * self.max_miou_drop:.2f} pts"
                                                    if self.miou_drop else "")


@dataclass
class SearchResult:
    method: str
    float_layers: list[str]  # module paths kept in float
    float_nodes: list[str]  # their ONNX node names in this graph
    agreement: float
    tried: list[dict] = field(default_factory=list)  # the search's steps, for the report
    seconds: float = 0.0
    miou_drop: float = 0.0  # FP32 mIoU minus this graph's, against labels (0 without labels)
    float_macs_share: float = 0.0  # share of the graph's multiply-adds left in float


def search(source: Path, dest: Path, calib: list[np.ndarray], frames: list[np.ndarray], ref: list[np.ndarray],
           modules: Sequence[str], opts: SearchOptions, contract_of: Path | None = None) -> tuple[dict, SearchResult]:
    """Write the INT8 QDQ graph of ``source`` to ``dest`` that meets ``opts`` on ``frames`` (against the
    FP32 masks ``ref``), calibrated on ``calib``, with as few float layers as it can. Where the default
    float layers miss, the graph with its activations equalised (:mod:`.equalize`) is tried too.
    ``contract_of`` is the artifact whose sidecar describes the graph (default: ``source``)."""
    from unet_edge.core.artifact import load_meta, stamp

    contract = stamp(load_meta(contract_of or source, check_hash=False).to_dict())
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".int8-search-") as tmp:
        s = _Search(source, Path(tmp), calib, frames, ref, modules, contract, opts)
        cap = max(12, len(s.by_layer) // 4) if opts.max_float_layers is None else opts.max_float_layers
        s.calibrate()
        searched = not opts.meets(s.now)
        if searched:
            s.grow(s.trials(), cap)
        if not opts.meets(s.now):
            s.fail()
        if searched:  # a layer taken early may not be needed once later ones are float
            s.prune()
        quant = s.build(s.chosen, dest)
        quant["equalized_activations"] = s.equalized
    result = SearchResult(s.method, s.chosen, s.nodes(s.chosen), s.now[0], s.steps, time.monotonic() - s.t0,
                          s.now[1], sum(s.share.get(layer, 0.0) for layer in s.chosen))
    return quant, result


class _Search:
    """The search's state: the float graph INT8 is made from (plain or equalised) and its calibration,
    the float layers chosen and their score (``now``), the steps taken."""

    def __init__(self, source: Path, tmp: Path, calib, frames, ref, modules: Sequence[str], contract: dict,
                 opts: SearchOptions) -> None:
        self.t0 = time.monotonic()
        self.source = self.src = source
        self.tmp, self.calib, self.frames, self.ref, self.contract, self.opts = tmp, calib, frames, ref, contract, opts
        self.log = opts.log
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
        self.now: Score = (0.0, 1.0)
        self.steps: list[dict] = []
        self.trial, self.builds = tmp / "trial.onnx", 0

    def nodes(self, layers: Sequence[str]) -> list[str]:
        return sorted({n for layer in layers for n in self.by_layer.get(layer, [])}
                      | (set(self.base) - set(self.names)))

    def build(self, layers: Sequence[str], out: Path, src: Path | None = None, method: str | None = None,
              graph: str | None = None) -> dict:
        self.builds += 1
        method, graph = method or self.method, graph or self.graph
        return quantize(src or self.src, out, self.calib, self.opts.target, method, float_nodes=self.nodes(layers),
                        cache=self.tmp / f"{graph}-{method}.calib.json",
                        warn=self.builds == 1)  # the few-frames warning once, not once per trial

    def measure(self, path: Path, frames=None, ref=None) -> Score:
        """The score of graph ``path``; on ``frames`` (the probe frames), agreement alone."""
        masks = onnx_masks(path, frames or self.frames, self.contract)
        if frames is not None:
            return pixel_agreement(masks, ref), 0.0
        drop = self.opts.miou_drop(masks) if self.opts.miou_drop is not None else 0.0
        return pixel_agreement(masks, self.ref), drop

    def evaluate(self, layers: Sequence[str], frames=None, ref=None) -> Score:
        """The score of the INT8 graph with ``layers`` in float, under the calibration chosen."""
        self.build(layers, self.trial)
        return self.measure(self.trial, frames, ref)

    def out_of_time(self) -> bool:
        return time.monotonic() - self.t0 > self.opts.max_seconds

    def calibrate(self) -> None:
        """Pick the calibration method (and the equalised graph, where it helps) by agreement with the
        default float layers."""
        opts, scored = self.opts, []

        def run(graph: str, src: Path) -> None:
            for m in opts.methods:
                self.build(self.base_layers, self.trial, src, m, graph)
                scored.append((*self.measure(self.trial), m, graph, src))
                self.log(f"  INT8 calibration {m}" + (", activations equalised" if graph != "plain" else "")
                         + f": {opts.says(scored[-1][:2])}")

        def best() -> tuple:
            return max(scored, key=lambda t: (opts.meets(t[:2]), t[0] - t[1]))

        run("plain", self.source)
        if opts.equalize_activations and not opts.meets(best()[:2]):
            # exact in float, so only the INT8 error can change; kept only if it agrees better
            path = self.tmp / "equalized.onnx"
            self.equalized = equalize(self.source, path, self.calib, signed=opts.target == "tensorrt")
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

    def trials(self) -> list[tuple[str, list[str], float | None]]:
        """(label, layers, sensitivity) to try in float, in order: the layers that gain on their own, best
        value first; then whole roles (every depthwise conv, say: many small errors add up where no one
        layer shows); then the rest, which can still matter in company (a huge range is only cured once
        the layer reading it is float too)."""
        opts = self.opts
        frames, ref = spread(self.frames, opts.probe), spread(self.ref, opts.probe)
        base = self.evaluate(self.chosen, frames, ref)[0]
        candidates = [layer for layer in self.by_layer if layer not in self.chosen]
        self.log(f"  {opts.says(self.now)} misses {100 * opts.min_agreement:.1f}%"
                 + (f" / {100 * opts.max_miou_drop:.2f} pts" if opts.miou_drop else "")
                 + f": measuring {len(candidates)} layers' sensitivity")
        sens = []
        for layer in candidates:
            if self.out_of_time():
                break
            sens.append((self.evaluate([*self.chosen, layer], frames, ref)[0] - base, layer))
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
            if self.opts.meets(self.now) or self.out_of_time():
                break
            if not new or added + len(new) > (max_float_layers if gain is not None else group_cap):
                continue
            now = self.evaluate([*self.chosen, *new])
            # The probe frames can flatter a layer: keep it only if the whole set gains.
            kept = now[0] - now[1] > self.now[0] - self.now[1] + MIN_GAIN
            cost = sum(self.share.get(layer, 0.0) for layer in new)
            self.steps.append({"method": self.method, "layer": label, "float_layers": [*self.chosen, *new],
                               "agreement": now[0], "miou_drop": now[1], "sensitivity": gain, "macs_share": cost,
                               "kept": kept})
            what = f"sensitivity {100 * gain:+.2f} pts" if gain is not None else f"{len(new)} layers"
            self.log(f"  {'+' if kept else '-'} {label} in float ({what}, {100 * cost:.1f}% of the MACs): "
                     f"{self.opts.says(now)}" + ("" if kept else ", no better: back to INT8"))
            if kept:
                self.chosen, self.now = [*self.chosen, *new], now

    def prune(self) -> None:
        """Give the layers back to INT8 that the target no longer needs (:func:`prune`)."""
        def without(layers: list[str]) -> tuple[float, float, bool]:
            score = self.evaluate(layers)
            return score[0], score[1], self.opts.meets(score)

        self.chosen, *now = prune(self.chosen, self.base_layers, self.share, without, self.now, self.steps,
                                  self.out_of_time, self.log, lambda a, d: self.opts.says((a, d)))
        self.now = (now[0], now[1])

    def fail(self) -> None:
        kept = ", ".join(layer for layer in self.chosen if layer not in self.base_layers) or "none"
        tried = ", ".join(s["layer"] for s in self.steps if "layer" in s) or "none"
        raise ExportError(f"INT8 reaches at best {self.opts.says(self.now)} (target {self.opts.aim()}) "
                          f"with layers in float: {kept} (layers tried: {tried}); "
                          "lower --min-agreement, calibrate on more frames, or use FP16")


def prune(chosen: list[str], base: Sequence[str], share: dict[str, float],
          without: Callable[[list[str]], tuple[float, float, bool]], now: Score,
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
