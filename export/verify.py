"""The precision gate: every artifact against the FP32 reference (the model in eager PyTorch, or a source
ONNX graph in ONNX Runtime) on real (or labelled synthetic) frames.

Per artifact: pixel agreement with the FP32 model, mIoU and per-class IoU of its masks against the
FP32 masks, and where the frames have labels in the model's classes, the change in mIoU and in
each class's IoU against the labels. A small class can collapse while the mean barely moves, so
the classes whose IoU drops by more than a point are named, and fail a reduced precision. What
passes is decided by :mod:`unet_edge.export.criterion` (accuracy with labels, agreement without).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.errors import GateMissed
from unet_edge.export.criterion import Criterion, Gate, Score, Scorer, resized
from unet_edge.export.thresholds import DEFAULT_MAX_CLASS_DROP, DEFAULT_MAX_MIOU_DROP
from unet_edge.metrics import confusion, scores

CLASS_DROP = DEFAULT_MAX_CLASS_DROP  # a class whose IoU falls by more than this is named
# A pixel whose top two FP32 logits lie within 1% of the logits' spread (their std on the frame)
# is a near-tie: INT8's rounding flips a quarter to a half of them whatever layers stay float (and they
# hold 80% of the disagreement of a no-BN U-Net's INT8). BN-trained models have 0.2-0.6% of them; the
# no-BN U-Nets here, after 4 epochs or 27, 3-6%, and 2% once the median-frequency class weights' push
# was half taken back (training/logit_adjust.py).
NEAR_TIE = 0.01


@dataclass
class Row:
    artifact: str
    precision: str
    agreement: float
    threshold: float
    miou_vs_fp32: float  # the artifact's masks scored against the FP32 model's
    class_iou_vs_fp32: dict[str, float | None]
    miou_delta: float | None = None  # against labels: artifact minus FP32
    class_iou_delta: dict[str, float | None] | None = None
    drops: list[str] = field(default_factory=list)
    max_logit_error: float | None = None
    max_miou_drop: float = DEFAULT_MAX_MIOU_DROP
    criterion: str = "agreement"  # accuracy: mIoU and every class against labels, agreement a floor
    max_class_drop: float = DEFAULT_MAX_CLASS_DROP
    worst_class: str | None = None  # against labels: the class that lost the most IoU
    worst_class_delta: float | None = None

    @property
    def judged_by(self) -> Criterion:
        return Criterion(self.threshold, self.max_miou_drop if self.criterion == "accuracy" else None,
                         self.max_class_drop)

    @property
    def score(self) -> Score:
        return Score(self.agreement, self.miou_delta, self.class_iou_delta)

    @property
    def passed(self) -> bool:
        return self.judged_by.meets(self.score)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def provider(int8_target: str | None) -> str:
    """What runs (and so verifies) a graph of this INT8 flavour: OpenVINO's by OpenVINO, the rest by ONNX
    Runtime (TensorRT's QDQ graphs are simulated there)."""
    return "openvino" if int8_target == "openvino" else "cpu"


def gate_runner(path: Path, by: str, meta=None):
    """The runner the gate reads ``path`` with: ``by`` (:func:`provider`), OpenVINO always at f32 (the
    gate's FP32 reading, whatever bf16 record the contract holds)."""
    from unet_edge.runtime.runners import OPENVINO, open_runner

    return open_runner(path, provider=by, meta=meta, precision="f32" if by == OPENVINO else None)


def onnx_masks(path: Path, frames: list[np.ndarray], contract: dict, by: str = "cpu") -> list[np.ndarray]:
    """The masks of ONNX graph ``path`` run by ONNX Runtime (``by="openvino"``: by OpenVINO, in f32) on
    ``frames``, under ``contract`` (a sidecar's dict: a trial graph has no sidecar of its own and keeps
    its source's)."""
    from unet_edge.core.artifact import ArtifactMeta

    with gate_runner(path, by, ArtifactMeta.from_dict(contract, path)) as r:
        return [r.infer(f) for f in frames]


def _scores(preds, truths, n: int):
    return scores(sum(confusion(p, t, n) for p, t in zip(preds, truths)))


def pixel_agreement(outs: list[np.ndarray], ref: list[np.ndarray]) -> float:
    """Share of pixels where two lists of masks agree (frame by frame, then averaged)."""
    return float(np.mean([np.mean(o == r) for o, r in zip(outs, ref)]))


def relative_margins(logits: np.ndarray) -> np.ndarray:
    """HxW: each pixel's top logit minus its second, over the spread (std) of CxHxW ``logits``."""
    top2 = np.partition(logits, -2, axis=0)[-2:]
    return (top2[1] - top2[0]) / logits.std()


def mask_and_near_ties(logits: np.ndarray) -> tuple[np.ndarray, float]:
    """The class map (uint8) of CxHxW ``logits``, and the share of its pixels that are near-ties."""
    return logits.argmax(0).astype(np.uint8), float(np.mean(relative_margins(logits) < NEAR_TIE))


def scores_at_labels(masks: list[np.ndarray], labels: list[np.ndarray], n: int):
    """Scores of ``masks`` against ``labels`` at the labels' resolution (masks resized nearest)."""
    return _scores(resized(masks, labels), labels, n)


def compare(name: str, precision: str, outs: list[np.ndarray], ref: list[np.ndarray], labels: list | None,
            classes: list[str], gate: Gate) -> Row:
    """Score masks ``outs`` against the FP32 masks ``ref`` (and ``labels`` where given), judged by
    ``gate``'s criterion for ``precision``."""
    n = len(classes)
    score = Scorer(ref, labels, classes).score(outs)
    criterion = gate.criterion(precision, bool(labels))
    vs_ref = _scores(outs, ref, n)
    row = Row(name, precision, score.agreement, criterion.min_agreement, vs_ref.miou,
              {c: (None if np.isnan(v) else float(v)) for c, v in zip(classes, vs_ref.iou)},
              max_miou_drop=gate.max_miou_drop, criterion=criterion.name, max_class_drop=gate.max_class_drop)
    if labels:
        row.miou_delta, row.class_iou_delta = score.miou_delta, score.class_delta
        row.worst_class, row.worst_class_delta = score.worst
        row.drops = [c for c, d in row.class_iou_delta.items() if d is not None and d < -gate.max_class_drop]
    else:  # no labels: a class the FP32 model finds that this artifact no longer agrees on
        row.drops = [c for c, v in row.class_iou_vs_fp32.items() if v is not None and v < 1 - CLASS_DROP]
    return row


@dataclass(frozen=True)
class FrameSet:
    """The frames every artifact is checked on, their labels (None without labels in the model's classes)
    and where they came from, in words."""

    frames: list[np.ndarray]
    labels: list[np.ndarray] | None
    source: str


def verify(reference, artifacts: list[tuple[Path, str]], checked: FrameSet, logits: bool, gate: Gate | None = None,
           ref_masks: list[np.ndarray] | None = None) -> list[Row]:
    """Compare every (artifact, precision) with the active ``reference`` runner on ``checked``. The
    reference's masks ``ref_masks`` may be given when an earlier stage already ran it (logit graphs need
    the logits, so they run it again)."""
    from unet_edge.core.artifact import load_meta

    gate = gate or Gate()
    frames, labels = checked.frames, checked.labels
    ref_logits = [reference.logits(f) for f in frames] if logits or ref_masks is None else []
    ref = ref_masks if ref_masks is not None and not logits else [lg.argmax(0).astype(np.uint8) for lg in ref_logits]
    rows = []
    for path, precision in artifacts:
        with gate_runner(path, provider(load_meta(path).int8_target)) as runner:
            outs = [runner.infer(f) for f in frames]
        err = None
        if logits:
            err = float(max(np.abs(o.astype(np.float32) - r).max() for o, r in zip(outs, ref_logits)))
            outs = [o.argmax(0).astype(np.uint8) for o in outs]
        row = compare(path.name, precision, outs, ref, labels, list(reference.classes), gate)
        row.max_logit_error = err
        rows.append(row)
    return rows


def format_table(rows: list[Row], source: str, reference: str = "the FP32 model",
                 status: tuple[str, str] = ("ok", "FAIL")) -> str:
    """The markdown table printed after export (``status``: the words for a pass and a miss)."""
    labelled = all(r.miou_delta is not None for r in rows)
    drops = "classes down > limit" if labelled else "classes below 99% IoU vs FP32 (info)"
    lines = [f"precision gate against {reference} (FP32) on {source}:", "",
             "| artifact | precision | criterion | pixel agreement | mIoU vs FP32 | mIoU change (labels) "
             f"| worst class | {drops} | max logit error | status |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        delta = "n/a" if r.miou_delta is None else f"{100 * r.miou_delta:+.2f} pts"
        worst = "n/a" if r.worst_class is None else f"{r.worst_class} {100 * r.worst_class_delta:+.2f} pts"
        err = "n/a" if r.max_logit_error is None else f"{r.max_logit_error:.3g}"
        word = status[0] if r.passed else status[1]
        lines.append(f"| {r.artifact} | {r.precision} | {r.criterion} | {100 * r.agreement:.3f}% "
                     f"(>= {100 * r.threshold:.1f}%) | {r.miou_vs_fp32:.4f} | {delta} | {worst} | "
                     f"{', '.join(r.drops) or '-'} | {err} | {word} |")
    if not labelled:
        lines += ["", "no labels in the model's classes: pixel agreement decides; the per-class column is "
                      "informational (agreement with the FP32 masks per class, not accuracy)"]
    return "\n".join(lines)


def enforce(rows: list[Row], reference: str = "the FP32 model") -> None:
    """Raise when an artifact misses its precision's gate."""
    bad = [r for r in rows if not r.passed]
    if bad:
        r = bad[0]
        slack = r.judged_by.slacks(r.score)
        failing = min(slack, key=lambda k: slack[k])
        why = {"agreement": f"agrees with {reference} on only {100 * r.agreement:.2f}% of pixels "
                            f"(needs {100 * r.threshold:.1f}%)",
               "mIoU": f"loses {-100 * (r.miou_delta or 0.0):.2f} mIoU points (at most {100 * r.max_miou_drop:.2f})",
               "class": f"loses {-100 * (r.worst_class_delta or 0.0):.2f} IoU points of {r.worst_class} "
                        f"(at most {100 * r.max_class_drop:.2f})"}[failing]
        raise GateMissed(f"{r.artifact} {why} for {r.precision}; use more or better calibration frames, or "
                         "--no-verify to keep it anyway", r.precision)


def verification_set(opts, size: tuple[int, int], classes: Sequence[str],
                     log: Callable[[str], None] = print) -> FrameSet:
    """The frames every artifact is checked on, with labels where they are in the model's ``classes``;
    ``opts``: ExportOptions. ``--verify-data``, else the calibration source's frames kept apart from
    calibration (a dataset's val split, or the frames a folder or video holds out: frame_sets.part_of),
    else, where nothing real was given, the synthetic dashcam."""
    from unet_edge.export.frame_sets import load_frames, synthetic_frames

    if opts.verify_data:
        frames, labels, names = load_frames(opts.verify_data, size, opts.verify_frames, "val", len(classes))
        source, given = f"{len(frames)} frames of {opts.verify_data}", opts.verify_data
    elif opts.calib:
        frames, labels, names = load_frames(opts.calib, size, opts.verify_frames, "val", len(classes), "held")
        kept = "its val split" if labels is not None else "held out of calibration"
        source, given = f"{len(frames)} frames of {opts.calib} ({kept})", opts.calib
    else:
        frames, labels, names = synthetic_frames(size, opts.verify_frames)
        source, given = f"{len(frames)} synthetic dashcam frames (no --verify-data or --calib given)", None
    if labels is not None and names != list(classes):
        if given is not None:
            log(f"labels of {given} not used: their {len(names)} classes ({', '.join(names[:3])}, ...) are not the "
                f"model's {len(classes)} ({', '.join(list(classes)[:3])}, ...); INT8 and FP16 are judged by agreement")
        labels = None  # labels in other classes say nothing about this model's mIoU
    return FrameSet(frames, labels, source)


def search_set(opts, size: tuple[int, int], classes: Sequence[str], gate: FrameSet) -> FrameSet:
    """The frames the FP16 and INT8 searches choose on: never the gate's own, so that the gate is not
    the searches' training set. A labelled calibration dataset's val frames beside the gate's (frames
    the model did not train on, as the gate's: on train frames a thin class loses less to rounding;
    its train frames where the gate took the whole val split), else the calibration frames (or a
    labelled ``--verify-data``'s train split), with their labels where the gate has labels; else
    synthetic frames other than the gate's."""
    from unet_edge.data import LAYOUT_NAMES
    from unet_edge.export.frame_sets import load_frames, synthetic_frames

    n = len(gate.frames)
    dataset = opts.verify_data if opts.verify_data and opts.verify_data.partition(":")[0] in LAYOUT_NAMES else None
    spec = opts.calib or dataset
    own = spec == opts.calib and not opts.verify_data  # the gate's frames come from the calibration source
    frames = []
    if spec and own and spec.partition(":")[0] in LAYOUT_NAMES:
        # the gate's split (val: frames the model did not train on, as the gate's) beside the gate's frames
        frames, labels, names = load_frames(spec, size, n, "val", len(classes), "beside")
    if spec and not frames:  # (a val split no larger than the gate's leaves none beside it)
        frames, labels, names = load_frames(spec, size, n, "train", len(classes), "rest" if own else "all")
    elif not spec:
        frames, labels, names = synthetic_frames(size, n, seed=54321)
    usable = gate.labels is not None and labels is not None and names == list(classes)
    return FrameSet(frames, labels if usable else None, f"{len(frames)} frames of {spec or 'the synthetic dashcam'}")
