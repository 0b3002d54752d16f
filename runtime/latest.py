"""The newest-frame reader of a live source: latency never builds up behind a slow model.

Frames are read on their own thread into a one-frame slot: the model always gets the freshest
frame, and one replaced before the model took it is dropped and counted. A live source that drops
out is reopened with capped exponential backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from unet_edge.core.errors import SourceError
from unet_edge.runtime.sources import Source


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
        self.latest: tuple[np.ndarray, float, float] | None = None  # frame, capture time, read ms
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
            start = time.monotonic()
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
                    self.latest = (frame, t, 1e3 * (t - start))
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

    def take(self, timeout: float = 1.0) -> tuple[np.ndarray, float, float] | None:
        """The newest frame not yet taken (waits up to ``timeout``) with its capture time and how long its
        read took (ms: a live source's read waits for the frame); None if there is none."""
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
