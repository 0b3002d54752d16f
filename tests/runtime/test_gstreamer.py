"""Camera plumbing for real: GStreamer pipelines (the Jetson's path) and RTSP from a real server,
with the server killed and restarted mid-stream.

The GStreamer tests need an OpenCV built with GStreamer: `make test` runs them in .venv-gst, a venv
over Debian's python3-opencv (the arrangement of a Jetson, see docs/jetson.md). The RTSP test runs
in both venvs: through GStreamer there, through FFmpeg in the pip-OpenCV venv.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from unet_edge.runtime.sources import csi_pipeline, has_gstreamer, open_source

from .clips import write_clip
from .tiny_model import tiny_model

pytestmark = [pytest.mark.gstreamer, pytest.mark.slow]
SYSTEM_PYTHON = os.environ.get("UNET_EDGE_SYSTEM_PYTHON", "/usr/bin/python3")
needs_gst = pytest.mark.skipif(not has_gstreamer(), reason=f"this OpenCV ({cv2.__version__}) has no GStreamer; "
                               "`make test` runs these in .venv-gst over Debian's python3-opencv")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")
    return tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


def _frames(uri: str, n: int) -> list[np.ndarray]:
    src = open_source(uri)
    src.open()
    try:
        out = []
        while len(out) < n:
            ok, frame = src.read()
            assert ok, f"{uri}: read failed after {len(out)} frames"
            out.append(frame)
        return out
    finally:
        src.close()


@needs_gst
def test_a_raw_pipeline_with_a_newest_frame_appsink():
    frames = _frames("videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ! "
                     "videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1 sync=false", 10)
    assert frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1])  # the ball moves: live frames, not one repeated


@needs_gst
def test_the_csi_pipeline_string_runs_with_a_test_source_in_place_of_the_camera():
    pipeline = csi_pipeline(0, 320, 240, 30)
    # Off a Jetson only nvarguscamerasrc (the sensor) and nvvidconv (its NVMM converter) are missing:
    # swap exactly those, keep every other element and caps of the string the runtime builds.
    assert pipeline.startswith("nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),") and "nvvidconv" in pipeline
    desk = (pipeline.replace("nvarguscamerasrc sensor-id=0", "videotestsrc is-live=true")
            .replace("video/x-raw(memory:NVMM)", "video/x-raw").replace("nvvidconv", "videoconvert"))
    src = open_source(desk)
    assert src.live
    src.open()
    try:
        ok, frame = src.read()
    finally:
        src.close()
    assert ok and frame.shape == (240, 320, 3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """tests/runtime/rtsp_server.py in a subprocess of Debian's Python (which has gi)."""

    def __init__(self, port: int, clip: Path) -> None:
        self.port, self.clip, self.proc = port, clip, None

    def start(self) -> RtspServer:
        script = Path(__file__).with_name("rtsp_server.py")
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(script), str(self.port), str(self.clip)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "READY", self.proc.stderr.read()[-2000:]
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def _rtsp_server_available() -> str | None:
    if not shutil.which(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, text=True)
    if probe.returncode:
        return ("the RTSP server needs Debian's python3-gi and gir1.2-gst-rtsp-server-1.0 with the GStreamer plugins "
                "(.ci/run installs them)")
    return None


def test_rtsp_reconnects_after_the_server_dies_and_ends_with_every_requested_frame(tiny, tmp_path):
    why = _rtsp_server_available()
    if why:
        pytest.skip(why)
    backend = "GStreamer" if has_gstreamer() else "FFmpeg"
    port = _free_port()
    server = RtspServer(port, write_clip(tmp_path / "clip.mp4", frames=300, size=(120, 160))).start()
    frames = 150
    run = subprocess.Popen([sys.executable, "-m", "unet_edge", "run", "--model", str(tiny), "--source",
                            f"rtsp://127.0.0.1:{port}/clip", "--max-frames", str(frames), "--stats-every", "0.25"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wait until the run has displayed frames, then cut the server off mid-stream
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = run.stderr.readline()
            if not line and run.poll() is not None:
                break
            m = re.search(r"total frames (\d+)", line)
            if m and int(m.group(1)) >= 20:
                break
        else:
            pytest.fail("the run displayed no frames from the RTSP server")
        server.kill()
        time.sleep(1.5)  # the camera is gone for a while
        server = RtspServer(port, server.clip).start()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
        server.kill()
    assert run.returncode == 0, stderr[-2000:]
    table = stdout.splitlines()
    counts = next(ln for ln in table if ln.startswith("frames "))
    assert re.search(rf"frames {frames}\b", counts), (backend, counts)
    reconnects = int(re.search(r"source reconnects (\d+)", counts).group(1))
    assert reconnects >= 1, (backend, counts)
