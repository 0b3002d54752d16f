"""Reading sources for the pipeline: every frame of a file, or only the newest of a live source.

Live sources (and files with ``realtime``) are read on their own thread into a newest-frame slot:
the model always gets the freshest frame, and one replaced before the model took it is dropped
and counted, so latency never builds up behind a slow model. A live source that drops out is
reopened with capped exponential backoff. Files otherwise deliver every frame through a small
bounded queue. A ``Feed`` is one source's frames, whichever way it is read.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from unet_edge.core.errors import SourceError
from unet_edge.runtime.frame import Frame
from unet_edge.runtime.sources import Source

_END = object()


class Paced(Source):
    """Plays a file source at its own fps (and loops it when asked), like a camera would."""

    def __init__(self, inner: Source, pace: bool, loop: bool) -> None:
        self.inner, self.pace, self.loop = inner, pace, loop
        self.live, self.name = pace, inner.name
        self.t0, self.n = None, 0

    @property
    def fps(self) -> float:
        """The file's own rate, read when it is opened: so never copied before that."""
        return self.inner.fps

    def read(self):
        ok, frame = self.inner.read()
        if not ok and self.loop:
            self.inner.close()
            self.inner.open()
            ok, frame = self.inner.read()
        if ok and self.pace:
            self.t0 = self.t0 or time.monotonic()
            self.n += 1
            wait = self.t0 + self.n / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return ok, frame

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()


class LatestReader:
    """Reads a live source on its own thread, keeping only the newest frame.

    A frame replaced before anyone took it counts as dropped. When the source fails it is
    reopened with exponential backoff (capped), and each reopening counts as a reconnect.
    """

    def __init__(self, source: Source, backoff: tuple[float, float] = (0.1, 2.0), max_retries: int | None = None,
                 reconnect: bool = True, on_frame: Callable[[], None] | None = None):
        self.source, self.backoff, self.max_retries, self.reconnect = source, backoff, max_retries, reconnect
        self.on_frame = on_frame or (lambda: None)
        self.ended = False
        self.cond = threading.Condition()
        self.latest: tuple[np.ndarray, float] | None = None
        self.dropped = self.reconnects = self.captured = 0
        self.error: Exception | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> LatestReader:
        self.thread.start()
        return self

    def _run(self) -> None:
        delay, failures = self.backoff[0], 0
        while not self.stopped.is_set():
            try:
                ok, frame = self.source.read()
            except Exception:  # a driver error reads as a dropout: reopen rather than die
                ok, frame = False, None
            if ok:
                failures, delay = 0, self.backoff[0]
                t = time.monotonic()
                with self.cond:
                    if self.latest is not None:
                        self.dropped += 1
                    self.latest = (frame, t)
                    self.captured += 1
                    self.cond.notify_all()
                self.on_frame()  # outside our lock: the listener may hold its own while it takes
                continue
            if not self.reconnect:  # a paced file that ended: the run ends cleanly
                with self.cond:
                    self.ended = True
                    self.cond.notify_all()
                self.on_frame()
                return
            failures += 1
            if self.max_retries is not None and failures > self.max_retries:
                self.error = SourceError(f"{self.source.name}: source stopped delivering frames and did not come back "
                                         f"after {self.max_retries} reconnect attempts")
                with self.cond:
                    self.cond.notify_all()
                self.on_frame()
                return
            self.source.close()
            if self.stopped.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])
            try:
                self.source.open()
                self.reconnects += 1
            except SourceError:
                continue

    def take(self, timeout: float = 1.0) -> tuple[np.ndarray, float] | None:
        """The newest frame not yet taken (waits up to ``timeout``); None if there is none."""
        with self.cond:
            if self.latest is None and timeout > 0:
                self.cond.wait(timeout)
            if self.error is not None and self.latest is None:
                raise self.error
            item, self.latest = self.latest, None
            return item

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2.0)
        self.source.close()


class Feed:
    """One source's frames for the infer loop, taken without blocking; ``notify`` is called
    whenever a frame (or the end) arrives, so one loop can wait on many feeds."""

    def __init__(self, stream: int, source: Source, loop: bool, realtime: bool, queue_size: int,
                 max_frames: int | None, notify: Callable[[], None], backoff: tuple[float, float] = (0.1, 2.0),
                 max_retries: int | None = None) -> None:
        self.stream, self.source, self.max_frames, self.notify = stream, source, max_frames, notify
        self.live = source.live or realtime
        self.paced = Paced(source, pace=realtime and not source.live, loop=loop)
        self.backoff, self.max_retries = backoff, max_retries
        self.reader: LatestReader | None = None
        self.taken, self.ended = 0, False
        self._q: queue.Queue = queue.Queue(maxsize=queue_size + 2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.ended or (self.max_frames is not None and self.taken >= self.max_frames)

    @property
    def dropped(self) -> int:
        return self.reader.dropped if self.reader else 0

    @property
    def reconnects(self) -> int:
        return self.reader.reconnects if self.reader else 0

    def start(self) -> Feed:
        self.source.open()
        if self.live:
            self.reader = LatestReader(self.paced, backoff=self.backoff, max_retries=self.max_retries,
                                       reconnect=self.source.live, on_frame=self.notify).start()
        else:
            self._thread = threading.Thread(target=self._read_file, name=f"capture-{self.stream}", daemon=True)
            self._thread.start()
        return self

    def _read_file(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                t = time.monotonic()
                ok, image = self.paced.read()
                if not ok:
                    break
                frame = Frame(i, image, time.monotonic(), {"capture": 1e3 * (time.monotonic() - t)}, stream=self.stream)
                i += 1
                self._put(frame)
        except BaseException as exc:  # surfaced in the infer loop
            self.error = exc
        finally:
            self._put(_END)

    def _put(self, item) -> None:
        """Queue ``item`` (waiting while the infer loop is behind, unless stopped) and say so."""
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        self.notify()

    def take(self) -> Frame | None:
        """The next frame (file) or the newest one (live) if one is ready; never blocks."""
        if self.done:
            return None
        if self.reader is not None:
            item = self.reader.take(timeout=0)
            if item is None:
                self.ended = self.reader.ended
                return None
            self.taken += 1
            return Frame(self.taken - 1, item[0], item[1], {"capture": 0.0}, stream=self.stream)
        try:
            item = self._q.get_nowait()
        except queue.Empty:
            return None
        if item is _END:
            self.ended = True
            if self.error is not None:
                raise self.error
            return None
        self.taken += 1
        return item

    def stop(self) -> None:
        self._stop.set()
        if self.reader is not None:
            self.reader.stop()  # closes the source
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.paced.close()
