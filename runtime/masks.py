"""``run --save-masks DIR``: every processed frame's class ids as a lossless PNG, pixel-aligned with the
source frame, and one JSON line per frame in ``DIR/index.jsonl`` (stream, frame index, source time,
capture time, latency, each class's share of the pixels).

The PNGs are palette PNGs: an image viewer shows the classes' colours, while the values read back
(``np.array(PIL.Image.open(path))``) are the class ids. Each file is written atomically, off the
inference thread; a file source waits for the disk (every frame is written), a live source drops
what the disk cannot take and counts it. ``--keep N`` keeps the newest N frames; the index keeps
only lines whose files exist. A full or vanished disk is one SinkError, and what was written stays.
"""

from __future__ import annotations

import json
import os
import queue
import struct
import threading
import zlib
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from unet_edge.core.errors import SinkError
from unet_edge.runtime.frame import Frame, at_size, wall_time

INDEX = "index.jsonl"
QUEUE = 8  # frames waiting for the disk before a file source waits, or a live one drops
ZLIB_LEVEL = 1  # the fastest: the writer must keep up with a stream on a Jetson CPU; maps stay a few KB


def palette_png(mask: np.ndarray, palette: Sequence[Sequence[int]]) -> bytes:
    """``mask`` (HxW uint8 ids) as an 8-bit indexed PNG whose palette is the classes' RGB colours."""
    h, w = mask.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colours = bytes(c for rgb in palette for c in rgb[:3]) or b"\x00\x00\x00"
    rows = np.zeros((h, w + 1), np.uint8)  # filter byte 0 (none) before each row
    rows[:, 1:] = mask
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", colours) + chunk(b"IDAT", zlib.compress(rows.tobytes(), ZLIB_LEVEL))
            + chunk(b"IEND", b""))


def _atomic_write(path: Path, data: bytes) -> None:
    # Not core.io.atomic_path: its fsync per file would cost every frame a flush on a Jetson's SD card;
    # the rename alone keeps a reader from ever seeing half a PNG.
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# The pieces of the format, shared with ``unet-edge label`` (unet_edge/fleet): one format in the project.
def at_frame_size(mask: np.ndarray, conf: np.ndarray | None, h: int, w: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's class ids (nearest) and confidence (linear) at the source frame's ``h`` x ``w``."""
    if conf is not None and conf.shape[:2] != (h, w):
        conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
    return at_size(mask, h, w), conf


def write_maps(folder: Path, name: str, mask: np.ndarray, conf: np.ndarray | None,
               palette: Sequence[Sequence[int]]) -> list[Path]:
    """``folder/name.png`` (and ``name.confidence.png``), each written atomically; the files written."""
    files = [folder / f"{name}.png"]
    _atomic_write(files[0], palette_png(mask, palette))
    if conf is not None:
        files.append(folder / f"{name}.confidence.png")
        ok, png = cv2.imencode(".png", conf)
        _atomic_write(files[1], png.tobytes())
    return files


def class_counts(mask: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixels of each class id below ``n_classes`` (ignore or unknown ids are not counted)."""
    return np.bincount(mask.ravel(), minlength=n_classes)[:n_classes]


def source_ms(src, index: int) -> float | None:
    """Frame ``index``'s position in a video file; a camera's frames and an image folder's have none."""
    fps = getattr(src, "fps", None)
    return None if src.live or not fps or hasattr(src, "delivered") else round(1e3 * index / fps, 3)


def index_line(stream: int, index: int, file: str, position_ms: float | None, capture_time: float | None,
               latency_ms: float | None, dropped: int, classes: Sequence[str], counts: np.ndarray,
               pixels: int) -> str:
    """One frame's line of ``index.jsonl`` (without its newline)."""
    return json.dumps({
        "stream": stream, "index": index, "file": file, "source_ms": position_ms,
        "capture_time": capture_time, "latency_ms": latency_ms,
        "dropped": dropped, "shares": {c: round(float(n) / pixels, 6) for c, n in zip(classes, counts) if n}})


class MaskWriter:
    """Writes class maps (and confidence maps) of the frames it is given, on a thread of its own."""

    def __init__(self, folder: str | Path, classes: Sequence[str], palette: Sequence[Sequence[int]],
                 sources: Sequence, keep: int | None = None) -> None:
        self.folder = Path(folder)
        if keep is not None and keep < 1:
            raise SinkError(f"--keep {keep}: keep at least one frame")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".unet-edge-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SinkError(f"--save-masks {folder}: cannot write there ({exc.strerror or exc})") from exc
        self.classes, self.palette, self.sources, self.keep = list(classes), list(palette), list(sources), keep
        self.written = self.dropped = 0
        self.error: SinkError | None = None
        self._kept: deque[tuple[list[Path], str]] = deque()  # (files, index line) of each frame on disk
        # open for the run (each line flushed as written); a folder reused starts a new index
        self._index = open(self.folder / INDEX, "w", encoding="utf-8")  # noqa: SIM115
        self._q: queue.Queue = queue.Queue(QUEUE)
        self._thread = threading.Thread(target=self._loop, name="save-masks", daemon=True)
        self._thread.start()

    def observe(self, frame: Frame, latency_ms: float) -> None:
        """Queue ``frame``'s maps (a pipeline observer): waits for a file source, drops for a live one."""
        if self.error is not None:
            raise self.error
        src = self.sources[frame.stream]
        mask, conf = at_frame_size(frame.mask, frame.confidence, *frame.image.shape[:2])
        item = (frame.stream, frame.index, frame.t_capture, latency_ms, np.array(mask),
                None if conf is None else np.array(conf), frame_name(src, frame.stream, frame.index))
        if src.live:
            try:
                self._q.put_nowait(item)
            except queue.Full:
                self.dropped += 1
        else:
            self._q.put(item)

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self._write(*item)
                except OSError as exc:
                    self.error = SinkError(f"--save-masks {self.folder}: cannot write ({exc.strerror or exc}); "
                                           f"the {self.written} frames before are kept")

    def _write(self, stream: int, index: int, t_capture: float, latency: float, mask: np.ndarray,
               conf: np.ndarray | None, name: str) -> None:
        files = write_maps(self.folder, name, mask, conf, self.palette)
        line = index_line(stream, index, files[0].name, source_ms(self.sources[stream], index),
                          round(wall_time(t_capture), 6), round(latency, 3), self.dropped, self.classes,
                          class_counts(mask, len(self.classes)), mask.size)
        self._index.write(line + "\n")
        self._index.flush()
        self.written += 1
        self._kept.append((files, line))
        if self.keep is not None and len(self._kept) > self.keep + max(1, self.keep // 20):
            self._prune()

    def _prune(self) -> None:
        """Down to the newest ``keep``: the index rewritten first, so it never names a deleted file."""
        gone = [self._kept.popleft() for _ in range(len(self._kept) - self.keep)]
        self._index.close()
        _atomic_write(self.folder / INDEX, "".join(line + "\n" for _, line in self._kept).encode())
        self._index = open(self.folder / INDEX, "a", encoding="utf-8")  # noqa: SIM115
        for files, _ in gone:
            for f in files:
                f.unlink(missing_ok=True)

    def summary(self) -> tuple[str, dict, str]:
        """(summary key, what was written, the line to log)."""
        line = f"saved {self.written} class maps in {self.folder}" + (
            f" ({self.dropped} dropped: the disk was slower than the live source)" if self.dropped else "")
        return "masks", {"folder": str(self.folder), "written": self.written, "dropped": self.dropped}, line

    def close(self) -> None:
        """Write what is queued, then close; raise the disk's error if there was one."""
        self._q.put(None)
        self._thread.join()
        self._index.close()
        if self.error is not None:
            raise self.error


class NamedFrames:
    """What a MaskWriter needs of a dataset's frames (``eval --save-masks``): not live, named by image."""

    live = False
    fps = None

    def __init__(self, pairs: Sequence[tuple[Path, Path]]) -> None:
        self.delivered = [Path(image).stem for image, _ in pairs]


def frame_name(src, stream: int, index: int) -> str:
    """An image folder's own file name; else ``<stream>_<frame index>``."""
    names = getattr(src, "delivered", None)
    if names is not None and index < len(names):
        return f"{names[index]}" if stream == 0 else f"{stream}_{names[index]}"
    return f"{stream}_{index:08d}"
