"""Which files are images: one list for datasets, frame folders and runtime sources."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # what cv2.imread reads


def is_image(path: str | Path) -> bool:
    """Whether ``path`` names an image by its suffix (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTS
