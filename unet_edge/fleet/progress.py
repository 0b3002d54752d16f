"""``label``'s progress: videos done of all, frames per second and an ETA. On a terminal one line is
redrawn in place (at most twice a second); elsewhere (a log, CI, a pipe) a full line every ``every`` s."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

REDRAW_S = 0.5


def clock_text(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """Counts what the driver finishes; ``tick()`` prints when a line is due."""

    def __init__(self, videos: int, frames: int, every: float, done: int = 0, out: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.videos, self.frames_expected, self.every = videos, frames, every
        self.out = out if out is not None else sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.clock = clock
        self.last = clock()
        # the rate counts from the first frames' arrival (Ray's start and the actors' are not its rate), without
        # them: they arrive together, and would make the first second's rate anything
        self.t0: float | None = None
        self.f0 = 0
        self.done, self.failed, self.frames = done, 0, 0

    def add_frames(self, n: int) -> None:
        if self.t0 is None and n:
            self.t0, self.f0 = self.clock(), n
        self.frames += n

    def fps(self) -> float | None:
        """Frames per second since the first frames came back; None in the first second."""
        elapsed = 0.0 if self.t0 is None else self.clock() - self.t0
        return (self.frames - self.f0) / elapsed if elapsed >= 1.0 else None

    def video_done(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed

    def line(self) -> str:
        """``label: 3/10 videos (1 failed), 1200 frames, 41.5 fps, ETA 2m10s``."""
        fps = self.fps()
        text = f"label: {self.done}/{self.videos} videos" + (f" ({self.failed} failed)" if self.failed else "")
        text += f", {self.frames} frames" + (f", {fps:.1f} fps" if fps is not None else "")
        left = self.frames_expected - self.frames
        if self.done < self.videos and fps and left > 0:
            text += f", ETA {clock_text(left / fps)}"
        return text

    def tick(self, force: bool = False) -> None:
        """Print the line if one is due (or ``force``)."""
        now = self.clock()
        if not force and now - self.last < (REDRAW_S if self.tty else self.every):
            return
        self.last = now
        if self.tty:
            self.out.write("\r" + self.line().ljust(79) + ("\n" if force else ""))
        else:
            self.out.write(self.line() + "\n")
        self.out.flush()
