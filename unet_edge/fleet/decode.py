"""The decode stage of ``label``: one video (or image folder) per call, its frames yielded in small batches.

Frames are read by the runtime's own sources, OpenCV's ``VideoCapture`` for a file as ``run`` reads it,
so a frame's pixels, index, name and ``source_ms`` are those that ``run --save-masks`` gives it. PyAV
(the ``fleet`` extra) only says why a video cannot be read, and how many frames a video declares, for
the ETA. Nothing is raised for a bad video: its end row carries the reason, and the job goes on.

Each batch is a dict of columns (Ray Data's numpy format). Every job ends with one end row
(``index`` -1, ``last`` True) that carries the number of frames sent and the failure, if any: the
driver finishes a video when it has seen its end row and that many frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.lazy import require
from unet_edge.runtime.masks import frame_name, source_ms
from unet_edge.runtime.source_base import Source

END = -1  # the index of a job's end row


def open_job(kind: str, path: str, files: Sequence[str]) -> Source:
    """The runtime source that ``run --source`` would open for this job (unopened)."""
    from unet_edge.runtime.sources import ImageSource, open_source

    return ImageSource([Path(f) for f in files], path) if kind == "images" else open_source(path)


def why_unreadable(path: str) -> str:
    """FFmpeg's own words for why ``path`` does not decode (through PyAV), in one line."""
    av, av_log = require("av"), require("av.logging")
    av_log.set_level(av_log.ERROR)  # its messages go to the capture, not to stderr
    av_log.set_skip_repeated(False)  # a worker decodes many videos: the second broken one has a reason too
    with av_log.Capture() as logs:
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    return "holds no video stream"
                stream = container.streams.video[0]
                for _ in container.decode(stream):
                    return f"OpenCV cannot decode its {stream.codec_context.name} stream"
                return "its video stream holds no frame"
        except av.error.FFmpegError as exc:
            why = exc.strerror or str(exc)
    details = "; ".join(dict.fromkeys(text.strip() for _, _, text in logs if text.strip()))
    return f"not a decodable video: {why}" + (f" ({details})" if details else "")


def _why(path: str) -> str:
    try:
        return why_unreadable(path)
    except Exception as exc:  # the reason is a nicety; the row is what must not be lost
        return f"not a decodable video ({type(exc).__name__}: {exc})"


def declared_frames(path: str) -> int:
    """The frames a video's header declares (0 where it does not say, or does not open): for the ETA."""
    av, av_log = require("av"), require("av.logging")
    av_log.set_level(av_log.PANIC)  # a broken file is said by its decode task, once
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            if stream.duration and stream.time_base and stream.average_rate:
                return int(stream.duration * stream.time_base * stream.average_rate)
    except (av.error.FFmpegError, IndexError):
        pass
    return 0


def column(images: list[np.ndarray]) -> np.ndarray:
    """Frames as one tensor column: stacked where they share a shape, else an array of arrays."""
    if len({im.shape for im in images}) == 1:
        return np.stack(images)
    column = np.empty(len(images), dtype=object)
    column[:] = images
    return column


def _batch(video: str, rows: list[tuple[int, str, float | None, np.ndarray]], t_start: float) -> dict:
    n = len(rows)
    return {"video": np.array([video] * n), "index": np.array([r[0] for r in rows], np.int64),
            "name": np.array([r[1] for r in rows]),
            "source_ms": np.array([np.nan if r[2] is None else r[2] for r in rows], np.float64),
            "image": column([r[3] for r in rows]), "last": np.zeros(n, bool), "frames": np.zeros(n, np.int64),
            "failure": np.array([""] * n), "t_start": np.full(n, t_start)}


def end_row(video: str, frames: int, failure: str, t_start: float) -> dict:
    """A job's last row: how many frames it sent, and why it stopped if it failed."""
    out = _batch(video, [(END, "", None, np.zeros((1, 1, 3), np.uint8))], t_start)
    out.update(last=np.ones(1, bool), frames=np.array([frames], np.int64), failure=np.array([failure]))
    return out


def decode_job(video: str, kind: str, path: str, files: Sequence[str], every: int, chunk: int) -> Iterator[dict]:
    """Batches of up to ``chunk`` frames (every ``every``-th), then the end row."""
    t_start = time.time()
    src = open_job(kind, path, files)
    sent, index, failure, rows = 0, 0, "", []
    try:
        src.open()
        while True:
            ok, image = src.read()
            if not ok:
                break
            if index % every == 0:
                rows.append((index, frame_name(src, 0, index), source_ms(src, index), image))
                if len(rows) == chunk:
                    yield _batch(video, rows, t_start)
                    sent, rows = sent + len(rows), []
            index += 1
    except Exception as exc:  # a decoder's error: this video's row says it, and the job goes on
        failure = f"stopped at frame {index}: {exc}"
    finally:
        src.close()
    if rows:
        yield _batch(video, rows, t_start)
        sent += len(rows)
    if not index:  # nothing read: say why, in FFmpeg's words for a video
        failure = _why(path) if kind == "video" else "none of its images could be read"
    yield end_row(video, sent, failure, t_start)


def decode_batch(batch: dict, every: int, chunk: int) -> Iterator[dict]:
    """Ray Data's decode stage: each row of ``batch`` is one job (``video``, ``kind``, ``path``, ``files``)."""
    for i in range(len(batch["video"])):
        files = batch["files"][i]
        yield from decode_job(str(batch["video"][i]), str(batch["kind"][i]), str(batch["path"][i]),
                              [] if files is None else [str(f) for f in files], every, chunk)
