"""A file source played like a camera: at its own fps, looped when asked (``--realtime``, ``--loop``)."""

from __future__ import annotations

import time

from unet_edge.runtime.sources import Source


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
