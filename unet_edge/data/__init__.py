"""Datasets: ``open_dataset(layout, root, split)`` returns checked (RGB image, id mask) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unet_edge.core.errors import DataError
from unet_edge.data.base import SPLITS, SegDataset
from unet_edge.data.classes import CAMVID, ClassInfo

__all__ = ["CAMVID", "ClassInfo", "SegDataset", "open_dataset", "LAYOUT_NAMES"]
LAYOUT_NAMES = ("camvid", "carla", "folder")


def open_dataset(layout: str, root: str | Path, split: str = "train", **options: Any) -> SegDataset:
    """Open ``root`` in ``layout`` (camvid, carla or folder) and select ``split``."""
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
    return LAYOUTS[layout](root, split, **opts)
