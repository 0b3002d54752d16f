"""Each source kind that can exist here, frame coercion, and the live-reader behaviour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import SourceError
from unet_edge.runtime.frame import to_bgr
from unet_edge.runtime.latest import LatestReader
from unet_edge.runtime.sources import ImageSource, has_gstreamer, open_source

from .cameras import FlakyCamera


def _drain(src):
    src.open()
    n = 0
    while src.read()[0]:
        n += 1
    src.close()
    return n


def test_video_file_delivers_every_frame(clip):
    src = open_source(str(clip))
    assert not src.live
    assert _drain(src) == 20 and src.fps == 30.0


def test_folder_and_glob_sources(images):
    assert isinstance(open_source(str(images)), ImageSource)
    assert _drain(open_source(str(images))) == 12
    assert _drain(open_source(str(images / "00000*.png"))) == 10


def test_unreadable_images_in_a_folder_are_skipped_and_counted(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"garbage")
    src = open_source(str(tmp_path))
    assert _drain(src) == 1 and src.skipped == 1


def test_missing_and_corrupt_sources_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file, folder, camera or stream"):
        open_source(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)
    with pytest.raises(SourceError, match="cannot open source"):
        open_source(str(bad)).open()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="folder holds no images"):
        open_source(str(empty))


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer: the missing-GStreamer error cannot occur")
def test_csi_and_pipelines_need_gstreamer_and_say_so():
    with pytest.raises(SourceError, match="needs OpenCV with GStreamer"):
        open_source("csi://0")
    with pytest.raises(SourceError, match="needs OpenCV with GStreamer"):
        open_source("videotestsrc ! videoconvert ! appsink")


@pytest.mark.parametrize("frame", [np.zeros((7, 9), np.uint8), np.zeros((7, 9, 4), np.uint8),
                                   np.zeros((7, 9, 1), np.uint8), np.full((7, 9, 3), 4000, np.uint16)])
def test_gray_bgra_and_16bit_frames_become_bgr(frame):
    out = to_bgr(frame)
    assert out.shape == (7, 9, 3) and out.dtype == np.uint8


def test_live_reader_keeps_only_the_newest_frame_and_counts_drops():
    cam = FlakyCamera(fps=500, outages=0)
    cam.open()
    reader = LatestReader(cam).start()
    import time

    time.sleep(0.3)  # a slow consumer: many frames arrive before it looks
    first = reader.take()
    reader.stop()
    assert first is not None and reader.dropped > 10
    assert reader.captured - reader.dropped <= 2
    assert 0.5 < first[2] < 50  # the read's ms: a 500 fps camera waits about 2 ms for each frame


def test_a_camera_that_drops_out_is_reopened_with_backoff():
    cam = FlakyCamera(fps=300, burst=10, outages=2)
    cam.open()
    reader = LatestReader(cam, backoff=(0.01, 0.05)).start()
    got = 0
    import time

    deadline = time.monotonic() + 10
    while got < 40 and time.monotonic() < deadline:
        if reader.take(timeout=0.2) is not None:
            got += 1
    reader.stop()
    assert got >= 40
    assert reader.reconnects == 2 and cam.opens == 3


def test_a_camera_that_never_comes_back_ends_with_a_clear_error():
    cam = FlakyCamera(fps=300, outages=0, total=3)  # three frames, then nothing ever again
    cam.open()
    reader = LatestReader(cam, backoff=(0.01, 0.02), max_retries=3).start()
    with pytest.raises(SourceError, match="did not come back after 3 reconnect attempts"):
        for _ in range(200):
            reader.take(timeout=0.05)
    reader.stop()


def test_plugin_schemes_resolve_through_entry_points_and_registration():
    from unet_edge.runtime.sources import Source, register_source

    synth = open_source("synth://?seed=1&size=48x64")
    assert type(synth).__module__ == "unet_edge.synth.source" and synth.live
    with pytest.raises(SourceError, match="unknown synth:// option"):
        open_source("synth://?speed=3")
    with pytest.raises(SourceError, match=r"unknown source scheme 'nope://'.*plug-ins: .*synth://"):
        open_source("nope://x")

    class Still(Source):
        def read(self):
            return True, np.zeros((8, 8, 3), np.uint8)

    register_source("still", lambda uri: Still())
    assert isinstance(open_source("still://anything"), Still)
