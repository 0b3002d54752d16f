"""Accuracy-targeted INT8: calibrate, and if the graph misses the gate's criterion
(:mod:`unet_edge.export.criterion`: accuracy against labels where there are labels, agreement
without), keep the most sensitive layers in float, best value first, until it holds, and stop there.

Layers are named by their PyTorch module path (``enc1.conv.0``), so one decision serves both INT8
flavours although the CPU flavour rewrites the up-sampling. Sensitivity of a layer: what the
criterion's value gains on 16 frames spread over the verification set with only that layer left in
float, all from one calibration. Layers are taken in order of sensitivity per float cost (:mod:`.float_cost`:
ONNX Runtime ms for the CPU flavour, share of the MACs for the others): a full-resolution conv left in
float can cost more speed than three small ones. Then whole roles (every depthwise conv): per-tensor INT8 can lose a
little at each of many layers, which no single-layer trial shows. A layer or role is kept only if the
whole verification set scores better with it in float; once the criterion holds, each layer taken is
tried back in INT8, costliest first (:func:`.prune.prune`), and stays INT8 if it still holds.

The budget (``max_seconds``) covers the search, not the calibration before it. A miss builds the best
graph found all the same, at a path of its own: nothing computed is thrown away.

Every step is one call of ``evaluate(float_layers) -> Score``: quantize with those layers in float
under the calibration chosen first, and score the masks against the FP32 masks (and labels).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import INT8_TARGETS
from unet_edge.export.criterion import Criterion, Score, Scorer
from unet_edge.export.frame_sets import spread
from unet_edge.export.int8.calibration import METHODS, quantize
from unet_edge.export.int8.equalize import equalize
from unet_edge.export.int8.graph_facts import layer_groups, layer_macs, layer_names, sensitive_convs
from unet_edge.export.int8.prune import COST_FLOOR, PruneHooks, prune
from unet_edge.export.thresholds import DEFAULT_MIN_AGREEMENT, DEFAULT_SEARCH_MINUTES
from unet_edge.export.verify import onnx_masks, pixel_agreement, provider

EXACT = 0.999  # float masks of the equalised graph against the plain one: only rounding may differ
MIN_GAIN = 1e-4  # 0.01 points of the criterion on the probe frames: below this a layer gains nothing alone


@dataclass
class SearchOptions:
    """What the search aims at and how far it may go."""

    target: str = INT8_TARGETS[0]  # the INT8 flavour
    criterion: Criterion = field(default_factory=lambda: Criterion(DEFAULT_MIN_AGREEMENT))  # what it aims at
    methods: Sequence[str] = tuple(METHODS)
    max_float_layers: int | None = None  # None: a quarter of a deep graph's layers, at least 12
    max_seconds: float = 60 * DEFAULT_SEARCH_MINUTES  # the search's; calibration not counted
    probe: int = 16  # frames each layer's sensitivity is measured on
    equalize_activations: bool = True
    measure_ms: bool = True  # time the float cost of the layers that gain (False: their MACs share)
    log: Callable[[str], None] = print
    contract_of: Path | None = None  # the artifact whose sidecar describes the graph (None: the source's)
    rejected: Path | None = None  # where a missed graph goes (None: ``<dest stem>.rejected.onnx``)
    accept: Criterion | None = None  # what a graph must meet to be kept (the gate's; None: ``criterion``)

    def meets(self, score: Score) -> bool:
        return self.criterion.meets(score)

    def says(self, score: Score) -> str:
        return self.criterion.says(score)


@dataclass
class SearchResult:
    method: str
    float_layers: list[str]  # module paths kept in float
    float_nodes: list[str]  # their ONNX node names in this graph
    score: Score
    met: bool  # False: ``path`` holds the best graph found, rejected
    path: Path
    tried: list[dict] = field(default_factory=list)  # the search's steps, for the report
    seconds: float = 0.0  # the search's, after calibration
    calibration_seconds: float = 0.0
    float_macs_share: float = 0.0  # share of the graph's multiply-adds left in float
    float_ms: dict[str, float] = field(default_factory=dict)  # measured float cost of the layers timed
    exhausted: str | None = None  # what the search was doing when its budget ran out

    @property
    def agreement(self) -> float:
        return self.score.agreement


def rejected_path(dest: Path) -> Path:
    """Where a missed INT8 graph is kept: ``best.int8.onnx`` -> ``best.int8.rejected.onnx``."""
    return dest.with_name(dest.name[: -len(".onnx")] + ".rejected.onnx")


def search(source: Path, dest: Path, calib: list[np.ndarray], frames: list[np.ndarray], scorer: Scorer,
           modules: Sequence[str], opts: SearchOptions) -> tuple[dict, SearchResult]:
    """Write the INT8 QDQ graph of ``source`` to ``dest`` that meets ``opts.criterion`` on ``frames``
    (scored by ``scorer``: against the FP32 masks, and labels), calibrated on ``calib``, with as few
    float layers as it can. Where the default float layers miss, the graph with its activations
    equalised (:mod:`.equalize`) is tried too. On a miss the best graph found goes to ``rejected``
    (``opts.rejected``), ``dest`` is not written and ``result.met`` is False. ``opts.contract_of`` is the
    artifact whose sidecar describes the graph (default: ``source``)."""
    from unet_edge.core.artifact import load_meta, stamp

    contract = stamp(load_meta(opts.contract_of or source, check_hash=False).to_dict())
    rejected = opts.rejected or rejected_path(dest)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".int8-search-") as tmp:
        s = _Search(source, Path(tmp), calib, frames, scorer, modules, contract, opts)
        cap = max(12, len(s.by_layer) // 4) if opts.max_float_layers is None else opts.max_float_layers
        s.calibrate()
        calibration_seconds, s.t0 = time.monotonic() - s.t0, time.monotonic()  # the budget starts here
        searched = not opts.meets(s.now)
        if searched:
            s.grow(s.trials(), cap)
        if searched and opts.meets(s.now):  # a layer taken early may not be needed once later ones are float
            s.prune()
        met = (opts.accept or opts.criterion).meets(s.now)
        path = dest if met else rejected
        quant = s.build(s.chosen, path)
        quant["equalized_activations"] = s.equalized
    result = SearchResult(s.method, s.chosen, s.nodes(s.chosen), s.now, met, path, s.steps,
                          time.monotonic() - s.t0, calibration_seconds,
                          sum(s.share.get(layer, 0.0) for layer in s.chosen),
                          {k: round(v, 3) for k, v in s.float_ms.items()}, s.exhausted)
    return quant, result


class _Search:
    """The search's state: the float graph INT8 is made from (plain or equalised) and its calibration,
    the float layers chosen and their score (``now``), the steps taken."""

    def __init__(self, source: Path, tmp: Path, calib, frames, scorer: Scorer, modules: Sequence[str],
                 contract: dict, opts: SearchOptions) -> None:
        self.t0 = time.monotonic()
        self.source = self.src = source
        self.tmp, self.calib, self.frames, self.scorer, self.contract = tmp, calib, frames, scorer, contract
        self.opts, self.criterion, self.log = opts, opts.criterion, opts.log
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
        self.now = Score(0.0)
        self.steps: list[dict] = []
        self.float_ms: dict[str, float] = {}
        self.exhausted: str | None = None
        self.trial, self.builds = tmp / "trial.onnx", 0

    def nodes(self, layers: Sequence[str]) -> list[str]:
        return sorted({n for layer in layers for n in self.by_layer.get(layer, [])}
                      | (set(self.base) - set(self.names)))

    def build(self, layers: Sequence[str], out: Path, src: Path | None = None, method: str | None = None,
              graph: str | None = None) -> dict:
        self.builds += 1
        method, graph = method or self.method, graph or self.graph
        return quantize(src or self.src, out, self.calib, self.opts.target, method, float_nodes=self.nodes(layers),
                        cache=self.tmp / graph,
                        warn=self.builds == 1)  # the few-frames warning once, not once per trial

    def measure(self, path: Path, idx: Sequence[int] | None = None) -> Score:
        """The score of graph ``path`` on the frames ``idx`` (default: all)."""
        frames = self.frames if idx is None else [self.frames[i] for i in idx]
        return self.scorer.score(onnx_masks(path, frames, self.contract, provider(self.opts.target)), idx)

    def evaluate(self, layers: Sequence[str], idx: Sequence[int] | None = None) -> Score:
        """The score of the INT8 graph with ``layers`` in float, under the calibration chosen."""
        self.build(layers, self.trial)
        return self.measure(self.trial, idx)

    def value(self, score: Score) -> float:
        return self.criterion.value(score)

    def out_of_time(self, doing: str) -> bool:
        if time.monotonic() - self.t0 <= self.opts.max_seconds:
            return False
        self.exhausted = self.exhausted or doing
        return True

    def step(self, score: Score, **fields) -> dict:
        """One step's record for the report."""
        name, delta = score.worst
        return {**fields, "agreement": score.agreement, "miou_delta": score.miou_delta, "worst_class": name,
                "worst_class_delta": delta}

    def calibrate(self) -> None:
        """Pick the calibration method (and the equalised graph, where none meets it) with the most slack
        under the criterion with the default float layers: the statistics of one pass give every method,
        so each costs a quantization and a scoring, and the slack is what the gate's other frames need."""
        opts, scored = self.opts, []

        def run(graph: str, src: Path) -> None:
            for m in opts.methods:
                self.build(self.base_layers, self.trial, src, m, graph)
                scored.append((self.measure(self.trial), m, graph, src))
                self.log(f"  INT8 calibration {m}" + (", activations equalised" if graph != "plain" else "")
                         + f": {opts.says(scored[-1][0])}")

        def best() -> tuple:
            return max(scored, key=lambda t: (opts.meets(t[0]), self.value(t[0])))

        run("plain", self.source)
        if opts.equalize_activations and not opts.meets(best()[0]):
            # exact in float, so only the INT8 error can change; kept only if it scores better
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
        self.now, self.method, self.graph, self.src = best()
        if self.graph == "plain":
            self.equalized = []
        self.steps += [self.step(sc, method=m, graph=g, float_layers=self.base_layers) for sc, m, g, _ in scored]

    def trials(self) -> list[tuple[str, list[str], float | None]]:
        """(label, layers, sensitivity) to try in float, in order: the layers that gain on their own, best
        gain per ms first; then whole roles (every depthwise conv, say: many small errors add up where no
        one layer shows); then the rest, which can still matter in company (a huge range is only cured
        once the layer reading it is float too)."""
        opts = self.opts
        probe = spread(range(len(self.frames)), opts.probe)
        base = self.value(self.evaluate(self.chosen, probe))
        candidates = [layer for layer in self.by_layer if layer not in self.chosen]
        self.log(f"  {opts.says(self.now)} misses {self.criterion.aim()}: measuring {len(candidates)} layers' "
                 "sensitivity" + (", and the float cost of those that gain" if opts.measure_ms else ""))
        timer = None
        if opts.measure_ms:
            from unet_edge.export.int8.float_cost import FloatCost

            shutil.copy(self.trial, self.tmp / "base.onnx")
            timer = FloatCost(self.tmp / "base.onnx", self.frames[0], self.contract)
        sens, cost = [], {}
        try:
            for i, layer in enumerate(candidates):
                if self.out_of_time(f"measuring the layers' sensitivity ({i} of {len(candidates)} measured)"):
                    break
                gain = self.value(self.evaluate([*self.chosen, layer], probe)) - base
                sens.append((gain, layer))
                if gain <= MIN_GAIN:  # the ranking needs only the cost of the layers that gain
                    continue
                if timer is None:
                    cost[layer] = max(self.share.get(layer, 0.0), COST_FLOOR)
                else:  # under a floor, a cost is timing noise: near-free layers must not jump the queue
                    cost[layer] = self.float_ms[layer] = max(timer.extra_ms(self.trial), COST_FLOOR * timer.base_ms)
        finally:
            if timer is not None:
                timer.close()
        helps = sorted(((g / cost[layer], g, layer) for g, layer in sens if g > MIN_GAIN), reverse=True)
        rest = sorted(((g, g, layer) for g, layer in sens if g <= MIN_GAIN), reverse=True)
        roles = sorted((sum(self.share.get(layer, 0.0) for layer in group), key, group)
                       for key, group in layer_groups(list(self.by_layer)).items())
        return [(layer, [layer], gain) for _v, gain, layer in helps] \
            + [(key, group, None) for _c, key, group in roles] \
            + [(layer, [layer], gain) for _v, gain, layer in rest]

    def grow(self, trials: list, max_float_layers: int) -> None:
        """Take layers into float in ``trials`` order while the whole set gains, until the criterion holds."""
        group_cap = max(max_float_layers, len(self.by_layer) // 2)
        for label, layers, gain in trials:
            new = [layer for layer in layers if layer not in self.chosen]
            added = len(self.chosen) - len(self.base_layers)
            if self.opts.meets(self.now) or self.out_of_time(f"taking layers into float ({added} taken)"):
                break
            if not new or added + len(new) > (max_float_layers if gain is not None else group_cap):
                continue
            now = self.evaluate([*self.chosen, *new])
            # The probe frames can flatter a layer: keep it only if the whole set gains.
            kept = self.value(now) > self.value(self.now) + MIN_GAIN
            cost = sum(self.share.get(layer, 0.0) for layer in new)
            ms = self.float_ms.get(label)
            self.steps.append(self.step(now, method=self.method, layer=label, float_layers=[*self.chosen, *new],
                                        sensitivity=gain, macs_share=cost, float_ms=ms, kept=kept))
            what = (f"sensitivity {100 * gain:+.2f} pts" if gain is not None else f"{len(new)} layers") \
                + (f", {ms:.2f} ms" if ms is not None else "")
            self.log(f"  {'+' if kept else '-'} {label} in float ({what}, {100 * cost:.1f}% of the MACs): "
                     f"{self.opts.says(now)}" + ("" if kept else ", no better: back to INT8"))
            if kept:
                self.chosen, self.now = [*self.chosen, *new], now

    def prune(self) -> None:
        """Give the layers back to INT8 that the criterion no longer needs (:func:`.prune.prune`)."""
        def without(layers: list[str]) -> tuple[Score, bool]:
            score = self.evaluate(layers)
            return score, self.opts.meets(score)

        hooks = PruneHooks(without, lambda: self.out_of_time("giving layers back to INT8"), self.log,
                           self.opts.says, self.step)
        self.chosen, self.now = prune(self.chosen, self.base_layers, self.share, self.now, self.steps, hooks)
