"""Atomic file output: a reader never sees a half-written checkpoint, engine or video."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from unet_edge.errors import SourceError, UnetEdgeError


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it is renamed over ``dest``.

    The temporary name keeps ``dest``'s suffix so writers that pick a format by
    extension (OpenCV, torch) behave the same. On error the temporary file is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix or dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o644)  # mkstemp's 0600 would make shared artifacts unreadable to others
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bytes_atomic(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(dest: str | Path, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``dest`` atomically."""
    write_bytes_atomic(dest, (json.dumps(obj, indent=2) + "\n").encode())


class VideoWriter:
    """An MP4 writer that is finalized (moov atom written, file renamed into place) on close,
    including when the with-block is left by an exception or Ctrl-C; frames written so far stay
    playable. Frame size is fixed by the first frame; later frames of another size are resized.
    """

    def __init__(self, dest: str | Path, fps: float, fourcc: str = "mp4v") -> None:
        self.dest = Path(dest)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.fourcc = fourcc
        self.frames = 0
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.dest.with_name(f".{self.dest.stem}.partial{self.dest.suffix or '.mp4'}")

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 frame."""
        import cv2

        if self._writer is None:
            h, w = frame.shape[:2]
            self._size = (w, h)
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise SourceError(f"{self.dest}: cannot open a video writer (codec {self.fourcc!r} unavailable?)")
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        """Finalize the file and move it into place (no-op when nothing was written)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.dest)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ensure_empty_dir(path: Path, force: bool) -> None:
    """Create ``path``; refuse to write into a non-empty folder unless ``force``."""
    if path.exists() and any(path.iterdir()) and not force:
        raise UnetEdgeError(f"{path}: folder is not empty; choose another or pass --force")
    path.mkdir(parents=True, exist_ok=True)
