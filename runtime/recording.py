"""Recording the rendered stream: one MP4, or consecutive segments that survive a power cut.

``--save out.mp4`` writes one file, finalized on exit (Ctrl-C and SIGTERM included).
``--save DIR/ --segment SECONDS [--keep N]`` writes ``DIR/<start time>_<index>.mp4`` files, as
dashcams do: each segment is finalized (playable) when the next starts, so a power cut loses at
most the one being written; ``--keep`` deletes the oldest so a long drive cannot fill the disk.

A live source (or a file played with ``--realtime``) drops the frames the model cannot keep up
with, so its recording is kept on the wall clock (``WallClock``): a minute of driving plays for a
minute. A folder that cannot be written is a SinkError before the first frame.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.errors import ConfigError, SinkError
from unet_edge.core.video import VideoWriter, partial_path
from unet_edge.runtime.sinks import Sink, VideoSink, finalize

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v")
SEGMENT_GLOB = "[0-9]" * 8 + "-" + "[0-9]" * 6 + "_[0-9]*.mp4"  # 20261122-031500_0003.mp4
MIN_FREE_BYTES = 8 << 20  # stop recording before the disk is full, while a segment can still be finalized


@dataclass(frozen=True)
class SaveSpec:
    """Where the rendered stream goes: a single file, or a folder of segments."""

    path: Path
    segment: float | None = None  # seconds per segment; None: one file
    keep: int | None = None  # newest segments to keep; None: all


def parse_save(save: str | Path | None, segment: float | None = None, keep: int | None = None) -> SaveSpec | None:
    """Check the ``--save``/``--segment``/``--keep`` combination; every problem is one ConfigError line.
    Nothing is written: :func:`prepare_save` makes the folder once the whole plan holds."""
    if save is None:
        if segment is not None or keep is not None:
            raise ConfigError("--segment and --keep go with --save DIR/")
        return None
    text = str(save)
    if not text.strip():
        raise ConfigError("--save: give a file (out.mp4) or a folder (DIR/ with --segment)")
    path = Path(text)
    is_dir = text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix
    if segment is not None:
        if not segment > 0:
            raise ConfigError(f"--segment {segment:g}: give the length of a segment in seconds, above 0")
        if not is_dir:
            raise ConfigError(f"--segment writes a folder of files: give --save DIR/ (not the file {text})")
    elif is_dir:
        raise ConfigError(f"--save {text}: a folder takes --segment SECONDS; for one file give a name like out.mp4")
    elif path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"--save {text}: unknown video type '{path.suffix}'; use {', '.join(VIDEO_SUFFIXES)}")
    if keep is not None:
        if segment is None:
            raise ConfigError("--keep needs --segment: it keeps the newest N segments")
        if keep < 1:
            raise ConfigError(f"--keep {keep}: keep at least 1 segment")
    if not is_dir and (stale := partial_path(path)).exists():
        raise ConfigError(f"--save {text}: {stale} holds an interrupted recording of this name; move it away "
                          "first (it is never overwritten)")
    return SaveSpec(path, segment, keep)


def prepare_save(spec: SaveSpec) -> None:
    """Create the recording's folder and prove it writable: once the whole plan is checked."""
    folder = spec.path if spec.segment else spec.path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write a file, not just os.access: root "may write" to /proc and to read-only mounts.
        fd, probe = tempfile.mkstemp(prefix=".unet-edge-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SinkError(f"--save {spec.path}: cannot write in {folder} ({exc.strerror or exc})") from exc


def open_recorder(spec: SaveSpec, fps: float, wall_clock: bool) -> Sink:
    """The sink for ``spec``: a VideoSink, or a SegmentedRecorder; kept on the wall clock when
    ``wall_clock`` (the source drops frames: a camera, or a file played in real time)."""
    sink = SegmentedRecorder(spec, fps, wall_clock) if spec.segment else VideoSink(spec.path, fps)
    return WallClock(sink, fps) if wall_clock else sink


class WallClock(Sink):
    """Writes a live stream into a video of ``fps`` so that it plays in real time: the video's
    frame k is the newest frame shown by ``t0 + k / fps``. Where the source dropped frames the
    previous one is repeated; a frame that arrives before its slot (faster than ``fps``) is skipped."""

    def __init__(self, inner: Sink, fps: float) -> None:
        self.inner, self.fps = inner, fps if fps and fps > 0 else 30.0
        self.t0: float | None = None
        self.written = 0
        self.last: np.ndarray | None = None

    def write(self, image: np.ndarray, stream: int = 0, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.t0 is None:
            self.t0 = now
        due = int((now - self.t0) * self.fps) + 1 - self.written  # slots up to and including this one
        if due <= 0:
            return True
        keep = True
        for _ in range(due - 1):
            keep = self.inner.write(self.last, stream) and keep
        keep = self.inner.write(image, stream) and keep
        self.last, self.written = image, self.written + due
        return keep

    @property
    def finished(self) -> list[Path] | None:
        """The segments finished so far (a SegmentedRecorder's), or None for one file."""
        return getattr(self.inner, "finished", None)

    def close(self) -> None:
        self.inner.close()


class SegmentedRecorder(Sink):
    """Consecutive MP4 segments in a folder.

    A file source is cut every round(segment x fps) frames of the output video; a live source
    every ``segment`` seconds of wall time (it drops frames, so frame counts say little there).
    """

    def __init__(self, spec: SaveSpec, fps: float, wall_clock: bool, min_free: int = MIN_FREE_BYTES) -> None:
        self.dir, self.spec, self.fps, self.min_free = spec.path, spec, fps or 30.0, min_free
        self.wall_clock = wall_clock
        self.frames_per_segment = max(1, round(spec.segment * self.fps))
        self.index, self.frames = 0, 0
        self.finished: list[Path] = []
        self.writer: VideoWriter | None = None
        self.t_start = 0.0

    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        self._check_space()
        if self.writer is None:
            self._open()
        self.writer.write(image)
        self.frames += 1
        full = time.monotonic() - self.t_start >= self.spec.segment if self.wall_clock else \
            self.frames >= self.frames_per_segment
        if full:
            self._finish()
        return True

    def _open(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while (path := self.dir / f"{stamp}_{self.index:04d}.mp4").exists():
            self.index += 1  # never overwrite a segment of another run started in the same second
        self.writer, self.frames, self.t_start = VideoWriter(path, self.fps), 0, time.monotonic()

    def _finish(self) -> None:
        writer, self.writer = self.writer, None
        finalize(writer)
        self.finished.append(writer.dest)
        self.index += 1
        if self.spec.keep:
            for old in sorted(self.dir.glob(SEGMENT_GLOB))[: -self.spec.keep]:
                old.unlink(missing_ok=True)

    def _check_space(self) -> None:
        try:
            free = shutil.disk_usage(self.dir).free
        except OSError as exc:  # the folder vanished or became unreadable mid-run
            if self.writer is not None:
                finalize(self.writer)  # one SinkError naming the segment if its folder is gone
            raise SinkError(f"{self.dir}: cannot record there any more ({exc.strerror or exc})") from None
        if free >= self.min_free:
            return
        if self.writer is not None:
            self._finish()  # finalize what we have while there is still room for the index
        raise SinkError(f"{self.dir}: disk full ({free / 1e6:.1f} MB free); recording stopped, "
                        f"{len(self.finished)} finished segment(s) kept")

    def close(self) -> None:
        if self.writer is not None:
            self._finish()
