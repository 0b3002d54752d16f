"""The peak-memory scope reports the block's own peak, not the process's history."""

from __future__ import annotations

import mmap
import sys
import time

import numpy as np
import pytest

from unet_edge.core.sysinfo import PeakRss, rss_mb

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the scoped peak reads Linux /proc")


def _touch(mb: int, hold: float = 0.2) -> None:
    """Make ``mb`` MB newly resident, hold it, give it back to the kernel.

    An anonymous map, not a numpy array: malloc may serve an array from heap that earlier tests left
    resident, and then resident memory never grows."""
    m = mmap.mmap(-1, mb * 1_000_000)
    view = np.frombuffer(m, dtype=np.uint8)
    view[:: mmap.PAGESIZE] = 1  # one write per page makes every page resident
    time.sleep(hold)
    del view
    m.close()


@linux
def test_the_peak_is_the_blocks_own():
    _touch(400, hold=0)  # the process's lifetime peak, before the scope
    with PeakRss() as small:
        _touch(50)
    assert small.scoped
    assert rss_mb() + 40 < small.mb < rss_mb() + 300  # saw the 50 MB, not the 400 MB before
    with PeakRss() as big_again:
        _touch(200)
    assert big_again.mb > small.mb + 120


@linux
def test_the_sampler_sees_a_freed_block_where_the_high_water_mark_lags(monkeypatch):
    from unet_edge.core import sysinfo

    monkeypatch.setattr(sysinfo, "_peak_mb", sysinfo.rss_mb)  # a kernel whose VmHWM missed the block
    with PeakRss() as peak:
        _touch(100)
    assert peak.mb > rss_mb() + 80
