"""Segmentation metrics from a confusion matrix (numpy only, shared by training, eval and bench)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion(pred: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix (rows: truth, cols: prediction); labels outside [0, n) are ignored."""
    label = label.astype(np.int64, copy=False).ravel()
    pred = pred.astype(np.int64, copy=False).ravel()
    keep = (label >= 0) & (label < num_classes)
    idx = label[keep] * num_classes + np.clip(pred[keep], 0, num_classes - 1)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass
class Scores:
    """mIoU, pixel accuracy, per-class IoU (NaN for classes absent from truth and prediction)."""

    miou: float
    pixel_acc: float
    mean_acc: float
    iou: list[float]

    def to_dict(self, names: list[str] | tuple[str, ...] | None = None) -> dict:
        names = list(names) if names else [str(i) for i in range(len(self.iou))]
        return {"miou": self.miou, "pixel_acc": self.pixel_acc, "mean_acc": self.mean_acc,
                "iou": {n: (None if np.isnan(v) else v) for n, v in zip(names, self.iou)}}


def scores(cm: np.ndarray) -> Scores:
    """Scores of a confusion matrix; classes that never occur do not count towards the mean."""
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(cm.sum(1) > 0, tp / cm.sum(1), np.nan)
    total = cm.sum()
    return Scores(miou=float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
                  pixel_acc=float(tp.sum() / total) if total else 0.0,
                  mean_acc=float(np.nanmean(acc)) if np.isfinite(acc).any() else 0.0,
                  iou=[float(v) for v in iou])
