"""Many cameras, one model: batched inference over sources at different rates, one of them dropping
out and coming back; per-stream recordings; the grid page."""

from __future__ import annotations

import time
from collections import Counter

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import ConfigError
from unet_edge.runtime.mjpeg import MjpegServer
from unet_edge.runtime.pipeline import StreamOptions
from unet_edge.runtime.run import RunConfig, run_stream
from unet_edge.runtime.segmenter import Segmenter

from .cameras import FlakyCamera
from .http_get import http_get as _get

pytestmark = pytest.mark.slow


def _run(model, cams, frames: int, max_batch: int = 4, slow: float = 0.0):
    with Segmenter(model) as seg:
        if slow:  # a model slower than the cameras, so that frames of several are ready together
            fast = seg.runner.infer_outputs

            def infer(x):
                time.sleep(slow)
                return fast(x)

            seg.runner.infer_outputs = infer
        pipe = seg.pipeline(cams, None, StreamOptions(max_frames=frames, max_batch=max_batch,
                                                      reconnect_backoff=(0.01, 0.05)))
        counts: Counter[int] = Counter()
        for frame in pipe.frames():
            assert frame.mask.shape == seg.runner.size_for(frame.image.shape[:2])  # a dynamic export: its aspect
            counts[frame.stream] += 1
    return pipe, counts


@pytest.mark.parametrize("n", [2, 4])
def test_sources_at_different_rates_one_dropping_out_all_finish(dynamic_model, n):
    rates = [120, 60, 40, 25][:n]
    cams = [FlakyCamera(fps=r, burst=10, outages=1 if i == 0 else 0) for i, r in enumerate(rates)]
    pipe, counts = _run(dynamic_model, cams, frames=24, slow=0.03)
    assert counts == {i: 24 for i in range(n)}
    s = pipe.summary()
    assert [st["frames"] for st in s["streams"]] == [24] * n
    assert s["streams"][0]["reconnects"] == 1 and all(st["reconnects"] == 0 for st in s["streams"][1:])
    sizes = {int(k) for k in s["batch_sizes"]}
    assert max(sizes) > 1 and max(sizes) <= min(4, n)  # frames ready together were inferred together
    assert sum(int(k) * v for k, v in s["batch_sizes"].items()) == 24 * n


def test_a_fixed_batch_model_serves_sources_round_robin(model):
    cams = [FlakyCamera(fps=100, outages=0), FlakyCamera(fps=50, outages=0)]
    pipe, counts = _run(model, cams, frames=15)
    assert counts == {0: 15, 1: 15} and set(pipe.summary()["batch_sizes"]) == {"1"}


def test_a_dead_source_does_not_stall_the_others(dynamic_model):
    dead = FlakyCamera(fps=100, total=3, outages=0)  # 3 frames, then nothing, however often it is reopened
    counts: Counter[int] = Counter()
    with Segmenter(dynamic_model) as seg:
        pipe = seg.pipeline([dead, FlakyCamera(fps=100, outages=0)], None,
                            StreamOptions(reconnect_backoff=(0.01, 0.05)))
        for frame in pipe.frames():
            counts[frame.stream] += 1
            if counts[1] == 40:
                break
    # Under load a stale frame of the dead source may be dropped for its newer one (latest wins): 1 to 3.
    assert counts[1] == 40 and 1 <= counts[0] <= 3 and set(counts) == {0, 1}
    assert pipe.feeds[0].reconnects > 0  # still retrying, never in the way


def test_per_stream_recordings_and_the_placeholder_rule(model, clip, tmp_path):
    clip = str(clip)
    logs: list[str] = []
    s = run_stream(RunConfig(model, [clip, clip], save=tmp_path / "out_{stream}.mp4"), log=logs.append)
    assert [st["frames"] for st in s["streams"]] == [20, 20]
    for i in (0, 1):
        cap = cv2.VideoCapture(str(tmp_path / f"out_{i}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    assert any("fixed batch of 1" in m for m in logs) and any(m.startswith("stream 1 clip.mp4") for m in logs)
    with pytest.raises(ConfigError, match=r"needs \{stream\}"):
        run_stream(RunConfig(model, [clip, clip], save=tmp_path / "out.mp4"), log=logs.append)


def test_the_grid_page_and_one_mjpeg_stream_per_source():
    server = MjpegServer("127.0.0.1", 0, [("Road", (128, 64, 128))], streams=3).start()
    try:
        for i in range(3):
            server.publish(np.full((24, 32, 3), 40 * i, np.uint8), i)
        status, page = _get(server.port, "/")
        assert status == 200 and all(f'src="/stream/{i}"'.encode() in page for i in range(3))
        assert b'id="grid"' in page
        assert _get(server.port, "/stream/2")[0] == 200 and _get(server.port, "/stream")[0] == 200
        status, jpeg = _get(server.port, "/snapshot/1.jpg")
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and abs(int(img.mean()) - 40) <= 2
        assert _get(server.port, "/stream/3")[0] == 404
    finally:
        server.stop()
