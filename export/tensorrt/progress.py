"""Progress of long engine builds (minutes on a Jetson): TensorRT's IProgressMonitor where the
release has it (10.0+), elapsed time from a ticker thread where it does not."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


def progress_monitor(trt, plan, log: Callable[[str], None], every: float = 5.0):
    """An ``IProgressMonitor`` that logs phase starts and, at most every ``every`` s, the step
    reached; None where the plan's release has none."""
    if not plan.progress_monitor:
        return None

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.t0 = self.last = time.monotonic()
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):  # noqa: ARG002 - TensorRT's signature
            self.steps[phase_name] = num_steps
            if parent_phase is None:
                log(f"  [{time.monotonic() - self.t0:6.1f}s] {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name, step) -> bool:
            now = time.monotonic()
            if now - self.last >= every:
                self.last = now
                log(f"  [{now - self.t0:6.1f}s] {phase_name}: step {step + 1}/{self.steps.get(phase_name, '?')}")
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            self.steps.pop(phase_name, None)

    return Monitor()


@contextlib.contextmanager
def elapsed_ticker(log: Callable[[str], None], every: float = 15.0) -> Iterator[None]:
    """For releases without a progress monitor: 'still building, N s' every ``every`` seconds."""
    done = threading.Event()
    t0 = time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            log(f"  still building ({time.monotonic() - t0:.0f}s)")

    thread = threading.Thread(target=tick, name="build-ticker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1.0)
