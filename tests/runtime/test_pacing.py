"""--realtime plays a file at its own rate, whatever that rate is (not the 30 fps default)."""

from __future__ import annotations

import time

import pytest

from unet_edge.runtime.feed import Feed
from unet_edge.runtime.pipeline import StreamOptions
from unet_edge.runtime.sources import open_source

from .clips import write_clip


@pytest.mark.parametrize("fps", [10, 25])
def test_realtime_paces_a_file_at_its_own_fps(tmp_path, fps):
    frames = 12
    source = open_source(str(write_clip(tmp_path / f"clip{fps}.mp4", fps=fps, frames=frames)))
    feed = Feed(0, source, StreamOptions(realtime=True), notify=lambda: None)
    taken, t0 = 0, time.monotonic()
    feed.start()
    try:
        deadline = t0 + 10
        while not feed.done and time.monotonic() < deadline:
            if feed.take() is not None:
                taken += 1
            time.sleep(0.002)
        elapsed = time.monotonic() - t0
    finally:
        feed.stop()
    assert source.fps == pytest.approx(fps, abs=0.01)
    # A paced read sleeps until its frame is due, so the run is never shorter than the clip: paced
    # at 30 fps instead of its own rate, either clip ends early.
    assert taken == frames and frames / fps * 0.97 <= elapsed < frames / fps + 1.5
