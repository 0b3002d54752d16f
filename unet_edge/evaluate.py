"""Accuracy evaluation of any model artifact on a labelled dataset, at the labels' resolution."""

from __future__ import annotations

import time
from collections import Counter

import cv2
import numpy as np

from unet_edge.core.errors import ConfigError, DataError
from unet_edge.core.io import atomic_path, write_json_atomic
from unet_edge.core.options import check_config as check_options
from unet_edge.data import SegDataset, open_dataset
from unet_edge.eval_config import EvalConfig
from unet_edge.export.frame_sets import spread
from unet_edge.metrics import confusion, scores
from unet_edge.runtime.frame import Frame, to_model_size
from unet_edge.training.progress import Progress


def check_classes(ds: SegDataset, classes: list[str], source: str) -> None:
    """A dataset scored against a model must use the same class list, in the same order."""
    if list(ds.info.names) != list(classes):
        raise DataError(f"{ds.root}: dataset classes {list(ds.info.names)} do not match the classes of "
                        f"{source} {list(classes)}")


def evaluate(runner, ds: SegDataset, samples: int = 0, masks=None) -> dict:
    """Score ``runner`` on ``ds``: frames are resized to the model input and predictions back to
    the label size (nearest), so numbers compare with published full-resolution results. ``masks``
    (a runtime.masks.MaskWriter) gets each prediction as ``run --save-masks`` writes them."""
    n = ds.info.num_classes
    cm = np.zeros((n, n), np.int64)
    picks = set(spread(range(len(ds)), samples)) if samples else set()
    viz = []
    sizes: Counter[tuple[int, int]] = Counter()
    bar = Progress(len(ds), "eval")
    t0 = time.perf_counter()
    for i in range(len(ds)):
        rgb, label = ds[i]
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        t = time.monotonic()
        size = runner.fit_to(bgr.shape[:2])  # as run sizes this frame
        sizes[size] += 1
        pred = runner.infer(to_model_size(bgr, size))
        if pred.shape != label.shape:
            pred = cv2.resize(pred, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_NEAREST)
        if masks is not None:
            masks.observe(Frame(i, bgr, t, mask=pred), 1e3 * (time.monotonic() - t))
        cm += confusion(pred, label, n)
        if i in picks:
            viz.append((bgr, label, pred))
        bar.update(i + 1)
    bar.close()
    s = scores(cm)
    return {"scores": s.to_dict(ds.info.names), "confusion": cm.tolist(), "classes": list(ds.info.names),
            "frames": len(ds), "seconds": time.perf_counter() - t0, "viz": viz,
            "input_size": list(sizes.most_common(1)[0][0]) if sizes else list(runner.input_size),
            "input_sizes": {f"{h}x{w}": k for (h, w), k in sorted(sizes.items())}}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def check_plan(cfg: EvalConfig) -> None:
    """Every output checked before the model opens: no output may be, hold or lie in an input, and
    the grid must be an image OpenCV can write (it would write nothing, silently)."""
    from unet_edge.core.plan import check_disjoint
    from unet_edge.core.shipped import resolve_model

    if cfg.save_viz is not None and cfg.save_viz.suffix.lower() not in IMAGE_SUFFIXES:
        raise ConfigError(f"--save-viz {cfg.save_viz}: give an image file ({', '.join(IMAGE_SUFFIXES)})")
    check_disjoint({"--model": resolve_model(cfg.model), "--data": cfg.data},
                   {"--save-masks": cfg.save_masks, "--save-viz": cfg.save_viz, "--json": cfg.json_out})


def evaluate_path(cfg: EvalConfig) -> dict:
    """The ``unet-edge eval`` command: open the model and dataset, score, write outputs."""
    from unet_edge.core.shipped import resolve_model
    from unet_edge.export.any_model import open_model

    check_options(cfg)
    check_plan(cfg)

    runner = open_model(cfg.model, provider=cfg.provider, input_size=cfg.size, device=cfg.device,
                        precision=cfg.precision, spec=cfg.spec)
    ds = open_dataset(cfg.layout, cfg.data, cfg.split, holdout=cfg.holdout, num_classes=len(runner.classes),
                      val_fraction=cfg.val_fraction)
    check_classes(ds, runner.classes, str(cfg.model))
    masks = None
    if cfg.save_masks is not None:
        from unet_edge.runtime.masks import MaskWriter, NamedFrames

        masks = MaskWriter(cfg.save_masks, runner.classes, runner.palette, [NamedFrames(ds.pairs)])
    try:
        with runner:
            report = evaluate(runner, ds, cfg.samples if cfg.save_viz else 0, masks)
    finally:
        if masks is not None:
            masks.close()
    report.update(model=str(resolve_model(cfg.model)), backend=runner.backend, precision=runner.precision,
                  runs_as=runner.describe(),
                  split=f"{cfg.holdout} held out of train" if cfg.holdout else cfg.split,
                  dataset=str(cfg.data))
    save_viz, json_out = cfg.save_viz, cfg.json_out
    viz = report.pop("viz")
    if save_viz and viz:
        from unet_edge.core.viz import comparison_grid

        grid = comparison_grid(viz, ds.info.names, ds.info.palette)
        with atomic_path(save_viz) as tmp:
            cv2.imwrite(str(tmp), grid)
        report["viz_path"] = str(save_viz)
    if json_out:
        write_json_atomic(json_out, report)
    return report


def format_report(report: dict) -> str:
    """Human-readable scores: headline, per-class IoU and the row-normalised confusion diagonal."""
    s = report["scores"]
    cm = np.asarray(report["confusion"], np.float64)
    recall = np.diag(cm) / np.maximum(cm.sum(1), 1)
    runs_as = report.get("runs_as") or f"{report['backend']} {report['precision']}"
    lines = [f"{report['model']} [{runs_as}] on {report['dataset']} "
             f"({report['split']}, {report['frames']} frames, {report['seconds']:.1f}s)",
             f"mIoU {s['miou']:.4f}  pixel acc {s['pixel_acc']:.4f}  mean class acc {s['mean_acc']:.4f}",
             f"{'class':<14} {'IoU':>6} {'recall':>7}"]
    for (name, iou), r in zip(s["iou"].items(), recall):
        lines.append(f"{name:<14} {'  n/a' if iou is None else f'{iou:6.3f}'} {r:7.3f}")
    if report.get("viz_path"):
        lines.append(f"visualisation: {report['viz_path']}")
    return "\n".join(lines)
