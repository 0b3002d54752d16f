"""Datasets: ``open_dataset(layout, root, split)`` returns checked (RGB image, id mask) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unet_edge.core.errors import DataError
from unet_edge.data.base import SPLITS, SegDataset
from unet_edge.data.classes import CAMVID, ClassInfo

__all__ = ["CAMVID", "ClassInfo", "SegDataset", "open_dataset", "LAYOUT_NAMES"]
LAYOUT_NAMES = ("camvid", "carla", "folder")


def open_dataset(layout: str, root: str | Path, split: str = "train", holdout: str | None = None,
                 **options: Any) -> SegDataset:
    """Open ``root`` in ``layout`` (camvid, carla or folder) and select ``split``.

    ``holdout`` is a file-name prefix (a CamVid sequence such as ``0006R0``): its frames leave the train
    split and *are* the val split, so settings can be chosen on a street the model has not seen and the
    real val split stays untouched until the end.
    """
    from unet_edge.data.layouts import LAYOUTS

    if layout not in LAYOUTS:
        raise DataError(f"unknown dataset layout '{layout}'; choose one of: {', '.join(LAYOUT_NAMES)}")
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; choose one of: {', '.join(SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    opts = {k: v for k, v in options.items() if v is not None}
    if layout == "camvid":
        opts.pop("val_fraction", None)
    if layout != "carla":
        opts.pop("num_classes", None)
    if not holdout:
        return LAYOUTS[layout](root, split, **opts)
    if split not in ("train", "val"):
        raise DataError(f"--holdout selects from the train split; it cannot be combined with split '{split}'")
    ds = LAYOUTS[layout](root, "train", **opts)
    is_held = [pair[0].name.startswith(holdout) for pair in ds.pairs]
    if not any(is_held) or all(is_held):
        raise DataError(f"{root}: holdout prefix '{holdout}' matches {'all' if any(is_held) else 'none'} of the "
                        f"{len(ds.pairs)} training frames; it must name a part of them")
    ds.pairs = [pair for pair, held in zip(ds.pairs, is_held) if held == (split == "val")]
    return ds
