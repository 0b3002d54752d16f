"""Dataset readers: pairs of (image uint8 HxWx3 RGB, mask uint8 HxW of class ids), checked."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from unet_edge.core.errors import DataError
from unet_edge.core.media import is_image
from unet_edge.data.classes import ClassInfo

SPLITS = ("train", "val", "test", "all")


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    return sorted(p for p in folder.iterdir() if is_image(p) and not p.name.startswith("."))


def pair_by_stem(image_dir: Path, mask_dir: Path) -> list[tuple[Path, Path]]:
    """Match images to masks by file stem; a missing partner on either side is an error."""
    images = list_images(image_dir)
    masks = {p.stem: p for p in list_images(mask_dir)}
    if not images:
        raise DataError(f"{image_dir}: no images found")
    pairs, missing = [], []
    for img in images:
        mask = masks.pop(img.stem, None)
        if mask is None:
            missing.append(img)
        else:
            pairs.append((img, mask))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{missing[0]}: no mask with the same name in {mask_dir}{more}")
    if masks:
        orphan = sorted(masks.values())[0]
        raise DataError(f"{orphan}: mask has no image with the same name in {image_dir}")
    return pairs


def hash_split(pairs: list[tuple[Path, Path]], split: str, val_fraction: float) -> list[tuple[Path, Path]]:
    """Deterministic train/val split by a hash of the file name, stable as files are added."""
    if split in ("all", "test"):
        return pairs
    cut = int(val_fraction * 1000)
    in_val = [zlib.crc32(img.stem.encode()) % 1000 < cut for img, _ in pairs]
    return [p for p, v in zip(pairs, in_val) if v == (split == "val")]


def read_image(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB, whatever its channel count or bit depth."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: cannot read image (missing, corrupt or unsupported format)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_id_mask(path: Path) -> np.ndarray:
    """Read a mask whose pixels are class ids (single channel, or three equal channels)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DataError(f"{path}: cannot read mask (missing, corrupt or unsupported format)")
    if mask.ndim == 3:
        if not (np.array_equal(mask[..., 0], mask[..., 1]) and np.array_equal(mask[..., 1], mask[..., 2])):
            raise DataError(f"{path}: mask is a colour image; expected one class id per pixel")
        mask = mask[..., 0]
    if mask.dtype != np.uint8:
        if mask.max(initial=0) > 255:
            raise DataError(f"{path}: mask values exceed 255; expected 8-bit class ids")
        mask = mask.astype(np.uint8)
    return mask


class SegDataset:
    """A list of checked (image, mask) pairs plus their class table."""

    layout = "base"

    def __init__(self, pairs: list[tuple[Path, Path]], info: ClassInfo, root: Path) -> None:
        if not pairs:
            raise DataError(f"{root}: the selected split holds no samples")
        self.pairs = pairs
        self.info = info
        self.root = root

    def __len__(self) -> int:
        return len(self.pairs)

    def read_mask(self, path: Path) -> np.ndarray:
        return read_id_mask(path)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        img_path, mask_path = self.pairs[index]
        image = read_image(img_path)
        mask = self.read_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise DataError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but image "
                            f"{img_path.name} is {image.shape[1]}x{image.shape[0]}")
        self.check_labels(mask, mask_path)
        return image, mask

    def check_labels(self, mask: np.ndarray, path: Path) -> None:
        """Raise if ``mask`` holds ids that are neither a class nor the ignore index."""
        n = self.info.num_classes
        if mask.max(initial=0) < n:
            return
        bad = np.unique(mask[mask >= n])
        bad = bad[bad != self.info.ignore_index]
        if bad.size:
            raise DataError(f"{path}: label(s) {bad.tolist()[:8]} outside the {n} classes "
                            f"(0-{n - 1}, ignore {self.info.ignore_index})")

    def class_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel count per class and, per class, the pixel count of masks where it appears.

        Reads and checks every mask, so a bad label fails before training starts.
        """
        n = self.info.num_classes
        pixels = np.zeros(n, np.int64)
        present = np.zeros(n, np.int64)
        for _, mask_path in self.pairs:
            mask = self.read_mask(mask_path)
            self.check_labels(mask, mask_path)
            counts = np.bincount(mask.ravel(), minlength=256)[:n]
            pixels += counts
            present += (counts > 0) * mask.size
        return pixels, present


def median_frequency_weights(pixels: np.ndarray, present: np.ndarray) -> np.ndarray:
    """SegNet's median-frequency balancing: weight_c = median(freq) / freq_c."""
    freq = np.where(present > 0, pixels / np.maximum(present, 1), 0.0)
    seen = freq > 0
    if not seen.any():
        raise DataError("no labelled pixels in the training set")
    median = np.median(freq[seen])
    return np.where(seen, median / np.where(seen, freq, 1.0), 0.0).astype(np.float32)


def rare_classes(weights: np.ndarray) -> tuple[int, ...]:
    """The classes rarer than the median class: median-frequency weight above 1."""
    return tuple(int(c) for c in np.flatnonzero(weights > 1))
