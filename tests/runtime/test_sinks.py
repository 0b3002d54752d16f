"""Sinks: MP4 (finalized after Ctrl-C too), the MJPEG server with real HTTP clients and a real
headless browser, and the one-line errors of ``unet-edge run``."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from unet_edge.core.artifact import sidecar_path
from unet_edge.core.errors import ConfigError, SinkError
from unet_edge.runtime.mjpeg import MjpegServer, parse_address
from unet_edge.runtime.run import RunConfig, run_stream

from .clips import count_frames
from .tiny_model import tiny_model

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "unet_edge"]


def test_save_writes_a_playable_mp4_at_the_source_size(model, clip, tmp_path):
    out = tmp_path / "out.mp4"
    stats = run_stream(RunConfig(model, str(clip), save=out, view="side", legend=True),
                       log=lambda _m: None)
    assert stats["frames"] == 20 and count_frames(out) == 20
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == 30.0
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 2 * 128  # side-by-side of the 96x128 clip
    assert not list(tmp_path.glob(".*partial*"))


def test_ctrl_c_leaves_a_finalized_playable_video(model, tmp_path):
    out = tmp_path / "live.mp4"
    # A shell without job control starts background commands with SIGINT ignored, and the child would
    # inherit that (pytest run as `make test &` did): give it the default disposition, as a terminal has.
    proc = subprocess.Popen([*CLI, "run", "--model", str(model), "--source", "synth://", "--save", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = tmp_path / ".live.partial.mp4"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (partial.exists() and partial.stat().st_size > 20_000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()  # no stray recorder left writing after the test
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-2000:]
    assert "finalized after interrupt" in stdout and "capture->display" in stdout
    assert count_frames(out) > 5


def _read_parts(port: int, n: int, timeout: float = 20) -> list[bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", "/stream")
    resp = conn.getresponse()
    assert resp.status == 200 and "multipart/x-mixed-replace" in resp.getheader("Content-Type")
    parts = []
    while len(parts) < n:
        line = resp.fp.readline()
        if line.startswith(b"Content-Length:"):
            length = int(line.split(b":")[1])
            resp.fp.readline()
            parts.append(resp.fp.read(length))
    conn.close()
    return parts


def _serve(model, frames: int):
    urls: list[str] = []
    result: dict = {}

    def log(msg: str) -> None:
        if msg.startswith("serving the live view on "):
            urls.append(msg.rsplit(" ", 1)[1])

    def target():
        result.update(run_stream(RunConfig(model, "synth://", serve="127.0.0.1:0", max_frames=frames), log=log))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not urls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert urls, "server did not start"
    return t, int(urls[0].rsplit(":", 1)[1].strip("/")), result


def test_mjpeg_serves_several_viewers_and_a_stalled_one_does_not_stall_the_pipeline(model):
    thread, port, result = _serve(model, frames=120)
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")  # ...and never reads a byte
    got: dict[int, list[bytes]] = {}
    viewers = [threading.Thread(target=lambda i=i: got.__setitem__(i, _read_parts(port, 5))) for i in range(2)]
    for v in viewers:
        v.start()
    for v in viewers:
        v.join(timeout=30)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    page = conn.getresponse().read().decode()
    thread.join(timeout=60)
    stalled.close()
    assert not thread.is_alive(), "pipeline stalled behind a viewer"
    assert result["frames"] == 120
    for parts in got.values():
        assert len(parts) == 5 and len(set(parts)) == 5  # five distinct, fresh frames
        img = cv2.imdecode(np.frombuffer(parts[0], np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (360, 480, 3)
    assert '<img id="stream" src="/stream"' in page and "Road" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed "
                    "(.ci/run installs it: apt-get install chromium)")
def test_the_live_view_renders_in_a_headless_browser(model, tmp_path):
    thread, port, _ = _serve(model, frames=400)
    shot = tmp_path / "shot.png"
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=800,600",
                           "--timeout=5000", f"--screenshot={shot}", f"http://127.0.0.1:{port}/"],
                          capture_output=True, text=True, timeout=90)
    thread.join(timeout=90)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-1500:]
    img = cv2.imread(str(shot))
    frame_area = img[60:420, 16:500]
    # the live frame is drawn: a street scene is far from the page's flat #111 background
    assert frame_area.std() > 20 and np.abs(frame_area.astype(int) - 17).mean() > 30


def test_port_in_use_is_a_one_line_error(model):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(SinkError, match=f"127.0.0.1:{port}: port already in use"):
            MjpegServer("127.0.0.1", port).start()
        proc = subprocess.run([*CLI, "run", "--model", str(model), "--source", "synth://", "--serve", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f"unet-edge: error: --serve {port}: cannot listen on 127.0.0.1:{port}: the port is already in use; "
        "choose another port"]  # refused by run's plan, before the model loads


def test_serve_binds_loopback_unless_told_otherwise():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)


@pytest.mark.parametrize("text", ["127.0.0.1:99999", "abc", "host:", "-1"])
def test_bad_serve_addresses_are_config_errors(text):
    with pytest.raises(ConfigError, match="--serve"):
        parse_address(text)


def test_out_of_range_port_is_one_line_on_the_cli(model):
    proc = subprocess.run([*CLI, "run", "--model", str(model), "--source", "synth://", "--serve", "127.0.0.1:99999"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "unet-edge: error: --serve '127.0.0.1:99999': port 99999 is outside 0-65535"], proc.stderr


@pytest.mark.parametrize("case", ["missing-model", "not-a-model", "no-sidecar", "missing-source", "corrupt-video"])
def test_run_errors_are_one_line(case, model, clip, tmp_path):
    src, mdl = str(clip), str(model)
    if case == "missing-model":
        mdl, expect = str(tmp_path / "none.onnx"), "model file not found"
    elif case == "not-a-model":
        bad = tmp_path / "bad.onnx"
        bad.write_bytes(os.urandom(1000))
        shutil.copy(str(model) + ".json", str(bad) + ".json")
        mdl, expect = str(bad), "sidecar does not match bad.onnx"
    elif case == "no-sidecar":  # and no contract in its metadata_props either
        lone = tiny_model(tmp_path / "lone.onnx", embed=False)
        sidecar_path(lone).unlink()
        mdl, expect = str(lone), "metadata sidecar missing"
    elif case == "missing-source":
        src, expect = str(tmp_path / "none.mp4"), "no such file, folder, camera or stream"
    else:
        (tmp_path / "c.mp4").write_bytes(b"\x00" * 2000)
        src, expect = str(tmp_path / "c.mp4"), "cannot open source"
    proc = subprocess.run([*CLI, "run", "--model", mdl, "--source", src], capture_output=True, text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and expect in lines[0], proc.stderr
