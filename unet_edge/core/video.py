"""Video writing that survives interruption: an MP4 is finalized and moved into place on close."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from unet_edge.core.errors import SinkError


def partial_path(dest: str | Path) -> Path:
    """Where ``VideoWriter`` records ``dest`` until it is finalized (a crash leaves it there)."""
    dest = Path(dest)
    return dest.with_name(f".{dest.stem}.partial{dest.suffix or '.mp4'}")


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
        self._tmp = partial_path(self.dest)
        if self._tmp.exists():  # a crash's remains are never overwritten (run checks it in its plan too)
            raise SinkError(f"{self.dest}: {self._tmp} holds an interrupted recording; move it away first")

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 frame."""
        import cv2

        if self._writer is None:
            h, w = frame.shape[:2]
            self._size = (w, h)
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise SinkError(f"{self.dest}: cannot open a video writer (codec {self.fourcc!r} unavailable?)")
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
