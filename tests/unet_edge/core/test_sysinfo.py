"""The peak-memory scope reports the block's own peak, not the process's history."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from unet_edge.core.sysinfo import PeakRss, rss_mb


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the scoped peak needs Linux /proc")
def test_the_peak_is_the_blocks_own():
    big = np.ones(400_000_000 // 8)  # 400 MB touched, then freed: the process's lifetime peak
    del big
    with PeakRss() as small:
        block = np.ones(50_000_000 // 8)  # 50 MB, held a moment as a calibration batch would be
        time.sleep(0.2)
        del block
    assert small.scoped
    assert rss_mb() + 40 < small.mb < rss_mb() + 300  # saw the 50 MB, not the 400 MB before
    with PeakRss() as big_again:
        block = np.ones(200_000_000 // 8)
        time.sleep(0.2)
        del block
    assert big_again.mb > small.mb + 120


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sampled peak reads Linux /proc")
def test_the_sampler_sees_a_freed_block_where_the_high_water_mark_lags(monkeypatch):
    from unet_edge.core import sysinfo

    monkeypatch.setattr(sysinfo, "_peak_mb", sysinfo.rss_mb)  # a kernel whose VmHWM missed the block
    with PeakRss() as peak:
        block = np.ones(100_000_000 // 8)
        time.sleep(0.2)
        del block
    assert peak.mb > rss_mb() + 80
