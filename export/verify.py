"""Proof on every export: each artifact against the checkpoint, on real (or labelled synthetic) frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.errors import ExportError
from unet_edge.metrics import confusion, scores

THRESHOLDS = {"fp32": 0.999, "fp16": 0.995, "int8": 0.97}


@dataclass
class Row:
    artifact: str
    precision: str
    agreement: float
    miou_delta: float | None
    max_logit_error: float | None

    @property
    def passed(self) -> bool:
        return self.agreement >= THRESHOLDS[self.precision]


def _miou(preds, labels, n: int) -> float:
    cm = sum(confusion(p, lab, n) for p, lab in zip(preds, labels))
    return scores(cm).miou


def verify(torch_runner, artifacts: list[tuple[Path, str]], frames: list[np.ndarray],
           labels: list[np.ndarray] | None, logits: bool) -> list[Row]:
    """Compare every (artifact, precision) with ``torch_runner`` on ``frames``."""
    import cv2

    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    n = len(torch_runner.classes)
    ref_logits = [torch_runner.logits(f) for f in frames]
    ref = [lg.argmax(0).astype(np.uint8) for lg in ref_logits]

    def at_label_size(pred, label):
        return cv2.resize(pred, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_NEAREST)

    ref_miou = _miou([at_label_size(p, lab) for p, lab in zip(ref, labels)], labels, n) if labels else None
    rows = []
    for path, precision in artifacts:
        with OnnxRuntimeRunner(path) as runner:
            outs = [runner.infer(f) for f in frames]
        err = None
        if logits:
            err = float(max(np.abs(o.astype(np.float32) - r).max() for o, r in zip(outs, ref_logits)))
            outs = [o.argmax(0).astype(np.uint8) for o in outs]
        agree = float(np.mean([np.mean(o == r) for o, r in zip(outs, ref)]))
        delta = None
        if labels:
            delta = _miou([at_label_size(p, lab) for p, lab in zip(outs, labels)], labels, n) - ref_miou
        rows.append(Row(path.name, precision, agree, delta, err))
    return rows


def format_table(rows: list[Row], source: str) -> str:
    """The markdown table printed after export."""
    lines = [f"verification against PyTorch on {source}:", "",
             "| artifact | precision | pixel agreement with PyTorch | mIoU delta | max logit error | status |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        delta = "n/a" if r.miou_delta is None else f"{100 * r.miou_delta:+.2f} pts"
        err = "n/a" if r.max_logit_error is None else f"{r.max_logit_error:.3g}"
        status = "ok" if r.passed else f"FAIL (< {100 * THRESHOLDS[r.precision]:.1f}%)"
        lines.append(f"| {r.artifact} | {r.precision} | {100 * r.agreement:.3f}% | {delta} | {err} | {status} |")
    return "\n".join(lines)


def enforce(rows: list[Row]) -> None:
    """Raise when an artifact falls below its precision's agreement threshold."""
    bad = [r for r in rows if not r.passed]
    if bad:
        r = bad[0]
        raise ExportError(f"{r.artifact} agrees with PyTorch on only {100 * r.agreement:.2f}% of pixels "
                          f"(needs {100 * THRESHOLDS[r.precision]:.1f}% for {r.precision}); use more or better "
                          "calibration frames, or --no-verify to keep it anyway")
