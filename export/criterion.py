"""The precision gate's criterion, defined once: what a reduced-precision artifact's masks must hold
against the FP32 model's. The export's gate (``verify.compare``), the INT8 float-layer search and
``bench`` all judge through it.

Where the verification frames have labels in the model's classes, the criterion is accuracy: mIoU
within ``max_miou_drop`` of FP32's and no class's IoU down by more than ``max_class_drop``, scored at
the labels' resolution, with pixel agreement gated only by a floor (rounding flips near-tie pixels
between classes without changing what the model gets right). Without labels, pixel agreement with
the FP32 masks is the criterion. FP32 is always judged by agreement: it must be exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unet_edge.export.thresholds import (
    DEFAULT_AGREEMENT_FLOOR,
    DEFAULT_MAX_CLASS_DROP,
    DEFAULT_MAX_MIOU_DROP,
    DEFAULT_MIN_AGREEMENT,
    THRESHOLDS,
)
from unet_edge.metrics import confusion, scores

EPS = 1e-9  # a drop of exactly the limit meets it, whatever the float rounding


@dataclass(frozen=True)
class Score:
    """One graph's masks against the FP32 masks, and against labels where there are labels."""

    agreement: float
    miou_delta: float | None = None  # this graph's mIoU minus FP32's, against labels
    class_delta: dict[str, float | None] | None = None  # the same per class (None: absent from both)

    @property
    def worst(self) -> tuple[str | None, float | None]:
        """The class that lost the most IoU against labels, and its change (None, None without labels)."""
        deltas = {c: d for c, d in (self.class_delta or {}).items() if d is not None}
        if not deltas:
            return None, None
        name = min(deltas, key=lambda c: deltas[c])
        return name, deltas[name]


@dataclass(frozen=True)
class Criterion:
    """What an artifact must hold: agreement at least ``min_agreement``; with ``max_miou_drop`` (labels),
    also the mIoU and every class's IoU within their limits (fractions: 0.005 is half a point)."""

    min_agreement: float
    max_miou_drop: float | None = None  # None: agreement alone
    max_class_drop: float = DEFAULT_MAX_CLASS_DROP

    @property
    def name(self) -> str:
        return "agreement" if self.max_miou_drop is None else "accuracy"

    def slacks(self, s: Score) -> dict[str, float]:
        """How far each condition is from failing (negative: failing), in fractions."""
        out = {"agreement": s.agreement - self.min_agreement}
        if self.max_miou_drop is not None and s.miou_delta is not None:
            out["mIoU"] = s.miou_delta + self.max_miou_drop
            worst = s.worst[1]
            if worst is not None:
                out["class"] = worst + self.max_class_drop
        return out

    def with_margin(self, share: float) -> Criterion:
        """The same criterion with its mIoU and per-class limits cut to ``share`` (agreement, a floor, kept)."""
        if self.max_miou_drop is None:
            return self
        return Criterion(self.min_agreement, self.max_miou_drop * share, self.max_class_drop * share)

    def meets(self, s: Score) -> bool:
        return min(self.slacks(s).values()) >= -EPS

    def value(self, s: Score) -> float:
        """What the search maximises: the tightest condition's slack, plus every failing condition's
        shortfall, so that a layer curing one of two misses counts although the other still binds."""
        slack = list(self.slacks(s).values())
        return min(slack) + sum(min(0.0, v) for v in slack)

    def says(self, s: Score) -> str:
        # rounded down: 98.996% printed as 99.00% next to a 99.0% target it missed would read as a bug
        text = f"{np.floor(1e4 * s.agreement) / 100:.2f}% agreement"
        if self.max_miou_drop is not None and s.miou_delta is not None:
            text += f", mIoU {100 * s.miou_delta:+.2f} pts"
            name, delta = s.worst
            if name is not None:
                text += f", worst class {name} {100 * delta:+.2f} pts"
        return text

    def aim(self) -> str:
        if self.max_miou_drop is None:
            return f"agreement >= {100 * self.min_agreement:.1f}%"
        return (f"mIoU within {100 * self.max_miou_drop:.2f} pts, no class down more than "
                f"{100 * self.max_class_drop:.2f} pts, agreement >= {100 * self.min_agreement:.1f}%")

    def to_dict(self) -> dict:
        return {"name": self.name, "min_agreement": self.min_agreement, "max_miou_drop": self.max_miou_drop,
                "max_class_drop": self.max_class_drop if self.max_miou_drop is not None else None}


@dataclass(frozen=True)
class Gate:
    """The export's limits. ``min_agreement`` is INT8's (FP32's and FP16's are fixed: ``THRESHOLDS``);
    None: ``DEFAULT_AGREEMENT_FLOOR`` where there are labels, ``DEFAULT_MIN_AGREEMENT`` without."""

    min_agreement: float | None = None
    max_miou_drop: float = DEFAULT_MAX_MIOU_DROP
    max_class_drop: float = DEFAULT_MAX_CLASS_DROP

    def threshold(self, precision: str, labelled: bool = False) -> float:
        if precision in THRESHOLDS:
            return THRESHOLDS[precision]
        if self.min_agreement is not None:
            return self.min_agreement
        return DEFAULT_AGREEMENT_FLOOR if labelled else DEFAULT_MIN_AGREEMENT

    def criterion(self, precision: str, labelled: bool) -> Criterion:
        accuracy = labelled and precision != "fp32"
        return Criterion(self.threshold(precision, labelled), self.max_miou_drop if accuracy else None,
                         self.max_class_drop)


def gate_of(opts) -> Gate:
    """The gate of ``opts`` (ExportOptions)."""
    return Gate(opts.min_agreement, opts.max_miou_drop, opts.max_class_drop)


def resized(masks: list[np.ndarray], labels: list[np.ndarray]) -> list[np.ndarray]:
    """``masks`` at their labels' resolution (nearest), where the gate scores them."""
    import cv2

    return [m if m.shape == lab.shape else
            cv2.resize(m, (lab.shape[1], lab.shape[0]), interpolation=cv2.INTER_NEAREST)
            for m, lab in zip(masks, labels)]


class Scorer:
    """Scores masks against the FP32 masks ``ref`` and, with ``labels``, against the labels: the FP32
    side is counted once, per frame, so a subset of frames (the search's probe) scores as cheaply."""

    def __init__(self, ref: list[np.ndarray], labels: list[np.ndarray] | None, classes: Sequence[str]) -> None:
        self.ref, self.labels, self.classes = ref, labels or None, list(classes)
        n = len(self.classes)
        self.base = ([confusion(m, lab, n) for m, lab in zip(resized(ref, labels), labels)]
                     if self.labels else None)

    def score(self, masks: list[np.ndarray], idx: Sequence[int] | None = None) -> Score:
        """The score of ``masks``, the masks of frames ``idx`` (default: every frame)."""
        idx = list(range(len(self.ref))) if idx is None else list(idx)
        agreement = float(np.mean([np.mean(m == self.ref[i]) for m, i in zip(masks, idx)]))
        if self.base is None:
            return Score(agreement)
        labels = [self.labels[i] for i in idx]
        n = len(self.classes)
        mine = scores(sum(confusion(m, lab, n) for m, lab in zip(resized(masks, labels), labels)))
        base = scores(sum(self.base[i] for i in idx))
        delta = {c: (None if np.isnan(a) or np.isnan(b) else float(a - b))
                 for c, a, b in zip(self.classes, mine.iou, base.iou)}
        return Score(agreement, mine.miou - base.miou, delta)
