"""Share of each class's pixels in the training crops, with and without rare-class crops (``--rare-crop``).

    python benchmarks/crop_share.py [--crops 300] [--size 240x320] [--scale 1.0,2.0] [--rare-crop 0.5]

Runs the trainer's own TrainTransform over CamVid train frames: how much more of a thin class
the model would see, before paying a training run to find out.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import CAMVID, save, table


def shares(ds, transform, crops: int) -> np.ndarray:
    """Per-class share (%) of the labelled pixels of ``crops`` crops, the same frames and seeds each call."""
    n = ds.info.num_classes
    counts = np.zeros(n, np.int64)
    for i in range(crops):
        image, mask = ds[(i * 7) % len(ds)]
        _, crop = transform(image, mask, np.random.default_rng(i))
        counts += np.bincount(crop.ravel(), minlength=256)[:n]
    return 100 * counts / max(1, counts.sum())


def main() -> None:
    from unet_edge.core.parse import parse_range, parse_size
    from unet_edge.data import open_dataset
    from unet_edge.data.base import median_frequency_weights, rare_classes
    from unet_edge.data.transforms import TrainTransform

    ap = argparse.ArgumentParser()
    ap.add_argument("--crops", type=int, default=300)
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--scale", default="1.0,2.0")
    ap.add_argument("--rare-crop", type=float, default=0.5)
    ap.add_argument("--out", default="crop_share")
    args = ap.parse_args()
    ds = open_dataset("camvid", str(CAMVID), "train")
    rare = rare_classes(median_frequency_weights(*ds.class_counts()))
    size, scale = parse_size(args.size), parse_range(args.scale, "--scale")
    ignore = ds.info.ignore_index
    off = shares(ds, TrainTransform(size, ignore, scale), args.crops)
    on = shares(ds, TrainTransform(size, ignore, scale, rare=rare, rare_p=args.rare_crop), args.crops)
    names = ds.info.names
    print(f"rare classes: {', '.join(names[c] for c in rare)}; {args.crops} crops of {args.size}, scale {args.scale}")
    print(table(["class", "uniform crops %", f"rare-crop {args.rare_crop:g} %"],
                [[names[c], f"{off[c]:.2f}", f"{on[c]:.2f}"] for c in range(len(names))]))
    save(args.out, {"crops": args.crops, "size": args.size, "scale": args.scale, "rare_crop": args.rare_crop,
                    "rare": [names[c] for c in rare], "uniform": dict(zip(names, off.tolist())),
                    "rare_crops": dict(zip(names, on.tolist()))})


if __name__ == "__main__":
    main()
