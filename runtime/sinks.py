"""Where rendered frames go: a window, an MP4 file, the MJPEG server, or nowhere (benchmarks)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from unet_edge.core.errors import SinkError
from unet_edge.core.video import VideoWriter


class Sink:
    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        """Show/store one frame of ``stream``; False asks the pipeline to stop (e.g. the window was closed)."""
        return True

    def close(self) -> None:
        pass


class VideoSink(Sink):
    """MP4 at the source's fps, every frame written once; finalized and playable after Ctrl-C or
    an error too (``recording.WallClock`` keeps a live source's on the clock)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.writer = VideoWriter(path, fps)
        self.path = Path(path)

    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        self.writer.write(image)
        return True

    def close(self) -> None:
        finalize(self.writer)


def finalize(writer: VideoWriter) -> None:
    """Close ``writer``; a folder that vanished or turned read-only meanwhile is one SinkError."""
    try:
        writer.close()
    except OSError as exc:
        raise SinkError(f"{writer.dest}: cannot finalize the video ({exc.strerror or exc}); "
                        "was its folder removed or made read-only during the run?") from exc


class WindowSink(Sink):
    """An OpenCV window, the streams tiled in a grid; 'q' or Esc stops the run."""

    def __init__(self, title: str = "unet-edge", streams: int = 1) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise SinkError("--show needs a display (DISPLAY is not set); use --serve to watch from a browser")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise SinkError("--show needs OpenCV with GUI support: this cv2 has none (opencv-python-headless); "
                              "install opencv-python or use --serve") from exc
        self.title = title
        self.tiles: list[np.ndarray | None] = [None] * streams

    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        self.tiles[stream] = image
        cv2.imshow(self.title, image if len(self.tiles) == 1 else tile(self.tiles))
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class ServerSink(Sink):
    """Publishes to an MjpegServer; never blocks on viewers."""

    def __init__(self, server) -> None:
        self.server = server

    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        self.server.publish(image, stream)
        return True

    def close(self) -> None:
        self.server.stop()


def tile(images: list[np.ndarray | None], width: int = 640) -> np.ndarray:
    """The latest image of every stream in a grid of ``width``-pixel cells (black until one arrives)."""
    cols = 1 if len(images) == 1 else 2 if len(images) <= 4 else 3
    first = next(im for im in images if im is not None)
    height = max(1, round(first.shape[0] * width / first.shape[1]))
    cells = [np.zeros((height, width, 3), np.uint8) if im is None else
             cv2.resize(im, (width, height), interpolation=cv2.INTER_AREA) for im in images]
    cells += [np.zeros_like(cells[0])] * (-len(cells) % cols)
    return np.vstack([np.hstack(cells[r:r + cols]) for r in range(0, len(cells), cols)])
