"""Choose the logit adjustment (unet_edge/training/logit_adjust.py) on a sequence held out of train.

For each run trained with ``--holdout SEQ`` and ``--logit-adjust 0`` (or before the option existed), scores
its best.pt on the held-out frames at their own size for each alpha, with the class weights of the run's own
training frames: mIoU and per-class IoU. One forward pass per frame serves every alpha.

    python benchmarks/logit_adjust.py runs/explore-E/best.pt runs/unetlite-ho/best.pt --alphas 0,0.25,0.5,0.75

``--split val --holdout ''`` scores CamVid val instead (to report, never to choose). It only measures:
the adjusted model is what ``unet-edge train --logit-adjust ALPHA`` saves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import CAMVID, save, table


def train_weights(holdout: str | None, num_classes: int) -> np.ndarray:
    """The median-frequency weights of the run's own training frames, as its trainer computed them."""
    from unet_edge.data import open_dataset
    from unet_edge.data.base import median_frequency_weights

    train = open_dataset("camvid", CAMVID, "train", holdout=holdout, num_classes=num_classes)
    return median_frequency_weights(*train.class_counts())


def score(ckpt_path: Path, alphas: list[float], split: str, holdout: str | None) -> dict:
    import torch

    from unet_edge.data import open_dataset
    from unet_edge.metrics import confusion, scores
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint
    from unet_edge.models.normalize import Normalizer
    from unet_edge.training.logit_adjust import offsets

    ckpt = load_checkpoint(ckpt_path)
    if ckpt.logit_offsets:
        raise SystemExit(f"{ckpt_path}: already adjusted (logit_offsets in the checkpoint)")
    model, norm = model_from_checkpoint(ckpt).eval(), Normalizer(ckpt.mean, ckpt.std)
    n = ckpt.num_classes
    weights = train_weights(holdout, n)
    frames = open_dataset("camvid", CAMVID, split, holdout=holdout, num_classes=n)
    shifts = {a: offsets(weights, a)[:, None, None] for a in alphas}
    cms = {a: np.zeros((n, n), np.int64) for a in alphas}
    for i in range(len(frames)):
        image, label = frames[i]
        with torch.inference_mode():
            logits = model(norm(torch.from_numpy(np.ascontiguousarray(image))[None]))[0]
        for a in alphas:
            cms[a] += confusion((logits + shifts[a]).argmax(0).numpy(), label, n)
    rows = []
    for a in alphas:
        s = scores(cms[a])
        rows.append({"alpha": a, "miou": s.miou, "iou": dict(zip(ckpt.info.names, map(float, s.iou)))})
    return {"checkpoint": str(ckpt_path), "split": split, "holdout": holdout, "frames": len(frames),
            "weights": weights.tolist(), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--split", default="val")
    ap.add_argument("--holdout", default="0006R0", help="'' for none")
    ap.add_argument("--out", default="logit_adjust")
    args = ap.parse_args()
    holdout = args.holdout or None
    alphas = [float(a) for a in args.alphas.split(",")]
    runs = [score(c, alphas, args.split, holdout) for c in args.checkpoints]
    for run in runs:
        names = list(run["rows"][0]["iou"])
        print(f"\n{run['checkpoint']} on {run['frames']} {'held-out ' + holdout if holdout else args.split} frames")
        rows = [[r["alpha"], f"{r['miou']:.4f}", *(f"{v:.3f}" for v in r["iou"].values())] for r in run["rows"]]
        print(table(["alpha", "mIoU", *names], rows))
    save(args.out, {"runs": runs})


if __name__ == "__main__":
    main()
