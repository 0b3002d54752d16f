"""A progress bar that degrades to periodic log lines when stderr is not a terminal (CI, nohup)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``update(done, text)`` redraws one line on a TTY, or logs every ~10 s otherwise."""

    def __init__(self, total: int, label: str, enabled: bool = True, width: int = 24) -> None:
        self.total, self.label, self.enabled, self.width = max(1, total), label, enabled, width
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._t0 = time.perf_counter()

    def update(self, done: int, text: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self._last < 0.1 and done < self.total:
                return
            filled = int(self.width * done / self.total)
            bar = "#" * filled + "-" * (self.width - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total} {text}\033[K")
            sys.stderr.flush()
        elif now - self._last >= 10.0:
            sys.stderr.write(f"{self.label} {done}/{self.total} {text}\n")
        else:
            return
        self._last = now

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
