"""The float-layer search's last step: give back to INT8 the layers the criterion no longer needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from unet_edge.export.criterion import Score

# A layer costs at least 2% of the graph: in the search's ranking, of its time (below, timing noise
# would let near-free layers jump the queue); here, of its MACs (a default float layer worth trying back).
COST_FLOOR = 0.02


@dataclass(frozen=True)
class PruneHooks:
    """How :func:`prune` judges and records: ``without(layers)`` scores the graph with only ``layers`` in
    float and says whether it meets the criterion; ``step(score, **fields)`` records a step."""

    without: Callable[[list[str]], tuple[Score, bool]]
    out_of_time: Callable[[], bool] = lambda: False
    log: Callable[[str], None] = print
    says: Callable[[Score], str] = lambda s: f"{100 * s.agreement:.2f}%"
    step: Callable[..., dict] | None = None


def prune(chosen: list[str], base: Sequence[str], share: dict[str, float], now: Score, steps: list[dict],
          hooks: PruneHooks) -> tuple[list[str], Score]:
    """A layer taken early can be redundant once later ones are float: try each layer the search added
    back in INT8, costliest first (``share``), and keep it INT8 while ``without(layers)`` still meets the
    criterion; then the default float layers that cost at least ``COST_FLOOR`` of the graph (a
    full-resolution head conv), since what the search added may have been what they were guarding
    against. Returns the float layers left and their score."""
    without, out_of_time, log, says = hooks.without, hooks.out_of_time, hooks.log, hooks.says
    step = hooks.step or (lambda score, **fields: {**fields, "agreement": score.agreement})
    added = [layer for layer in chosen if layer not in base]
    by_cost = sorted(added, key=lambda name: share.get(name, 0.0), reverse=True)
    if len(added) < 2:  # the one layer added was needed: the criterion was missed without it
        by_cost = []
    by_cost += sorted((layer for layer in base if layer in chosen and share.get(layer, 0.0) >= COST_FLOOR),
                      key=lambda name: share.get(name, 0.0), reverse=True)
    for layer in by_cost:
        if out_of_time():
            break
        fewer = [name for name in chosen if name != layer]
        score, ok = without(fewer)
        steps.append(step(score, float_layers=fewer, back_to_int8=layer, kept=not ok))
        log(f"  {'x' if ok else '='} {layer} back to INT8: {says(score)}"
            + (", still meets the target" if ok else ", misses: stays float"))
        if ok:
            chosen, now = fewer, score
    return chosen, now
