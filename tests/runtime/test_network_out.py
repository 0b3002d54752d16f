"""``--save rtsp://`` and ``rtp://``: a real GStreamer RTSP server in the run, real clients (rtspsrc through
OpenCV, a raw RTSP/TCP client that stops reading), and an RTP receiver. They need PyGObject and the
system's GStreamer: `make test` runs them in .venv-gst (as on a Jetson); elsewhere they skip, and the
missing PyGObject is checked to be one line."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import ConfigError
from unet_edge.runtime.network_out import (
    check_network,
    check_networks,
    mount_paths,
    open_network,
    parse_network,
    sdp_paths,
    served_line,
)
from unet_edge.runtime.run_plan import split_saves

from .clips import write_clip
from .tiny_model import tiny_model

CLIP = (120, 160)  # H, W of the clips sent over the network


def _has_gst_rtsp() -> bool:
    try:
        from unet_edge.runtime.network_out import load_gst

        load_gst()
    except Exception:
        return False
    return "GStreamer:                   YES" in cv2.getBuildInformation()


needs_rtsp = pytest.mark.skipif(not _has_gst_rtsp(), reason="needs PyGObject, GstRtspServer and an OpenCV with "
                                "GStreamer: `make test` runs these in .venv-gst over Debian's packages")


def test_urls_parse_as_jetson_inference_spells_them():
    spec = parse_network("rtsp://@:8554/seg")
    assert (spec.scheme, spec.host, spec.port, spec.path) == ("rtsp", "0.0.0.0", 8554, "/seg")
    assert parse_network("rtsp://0.0.0.0:8554/cam/{stream}").path == "/cam/{stream}"
    auth = parse_network("rtsp://me:s%40cret@192.168.1.5:8554/seg")
    assert (auth.user, auth.password, auth.host) == ("me", "s@cret", "192.168.1.5")
    assert parse_network("rtp://239.1.1.1:5004").port == 5004
    assert parse_network("out.mp4") is None and parse_network("rec/") is None
    for bad in ("rtsp://127.0.0.1/seg", "rtsp://127.0.0.1:8554", "rtp://127.0.0.1:5004/x", "rtsp://u@h:1/s",
                "rtp://a:b@127.0.0.1:5004", "rtsp://127.0.0.1:99999/seg"):
        with pytest.raises(ConfigError):
            parse_network(bad)
    assert mount_paths("/seg", 1) == ["/seg"]
    assert mount_paths("/seg", 2) == ["/seg/0", "/seg/1"]
    assert mount_paths("/cam{stream}/seg", 2) == ["/cam0/seg", "/cam1/seg"]


def test_save_repeats_for_one_recording_and_network_outputs():
    recording, nets = split_saves(["out.mp4", "rtsp://@:8554/seg", "rtp://127.0.0.1:5004"])
    assert recording == "out.mp4" and [n.scheme for n in nets] == ["rtsp", "rtp"]
    assert split_saves("out.mp4") == ("out.mp4", [])
    with pytest.raises(ConfigError, match="one recording"):
        split_saves(["a.mp4", "b.mp4"])
    with pytest.raises(ConfigError, match="same HOST:PORT"):
        split_saves(["rtsp://@:8554/a", "rtsp://@:8554/b"])


def _listening() -> socket.socket:
    """A socket that listens on a free loopback port, as another program's server would."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_port_out_of_range_is_named_not_asked_for():
    with pytest.raises(ConfigError, match="port 70000 is outside 1-65535"):
        parse_network("rtp://127.0.0.1:70000")
    with pytest.raises(ConfigError, match="port 0 is outside 1-65535"):
        parse_network("rtsp://@:0/seg")
    with pytest.raises(ConfigError, match="port 'x' is not a number"):
        parse_network("rtsp://127.0.0.1:x/seg")
    with pytest.raises(ConfigError, match="give the port, e.g. rtsp://@:8554/seg"):
        parse_network("rtsp://@/seg")
    with pytest.raises(ConfigError, match=re.escape("rtsp://me:***@h:1/: give the mount")):  # never the password
        parse_network("rtsp://me:secret@h:1/")


def test_every_streams_port_is_checked_with_its_offset():
    spec = parse_network("rtp://127.0.0.1:65533")
    assert spec.ports(2) == [65533, 65535]
    check_network(spec, 2)
    with pytest.raises(ConfigError, match="3 streams need ports 65533-65537 .* at most 65531"):
        check_network(spec, 3)
    assert [p.name for p in sdp_paths(spec, 2)] == ["rtp_127.0.0.1_65533.sdp", "rtp_127.0.0.1_65535.sdp"]
    assert sdp_paths(parse_network("rtsp://@:8554/seg"), 2) == []
    with pytest.raises(ConfigError, match="both use 127.0.0.1:5006"):  # stream 1 of the first is the second's
        check_networks([parse_network("rtp://127.0.0.1:5004"), parse_network("rtp://127.0.0.1:5006")], 2)


def test_hosts_resolve_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for text in ("rtp://no-such-host.invalid:5004", "rtsp://no-such-host.invalid:8554/seg"):
        with pytest.raises(ConfigError, match="cannot resolve host 'no-such-host.invalid'"):
            open_network(parse_network(text), [30.0])  # checked before GStreamer, before the .sdp
    with pytest.raises(ConfigError, match="give its address"):
        check_network(parse_network("rtp://@:5004"), 1)
    assert list(tmp_path.iterdir()) == []


def test_an_rtsp_port_in_use_names_the_interfaces_it_was_asked_for():
    with _listening() as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"0\.0\.0\.0:{port} \(all interfaces\): the port is already in use"):
            check_network(parse_network(f"rtsp://@:{port}/seg"), 1)
        with pytest.raises(ConfigError, match=rf"127\.0\.0\.1:{port}: the port is already in use"):
            check_network(parse_network(f"rtsp://127.0.0.1:{port}/seg"), 2)
    with pytest.raises(ConfigError, match="not an address of this machine"):
        check_network(parse_network("rtsp://192.0.2.1:8554/seg"), 1)


def test_the_live_view_address_is_checked_before_it_serves():
    from unet_edge.runtime.mjpeg import check_serve

    assert check_serve("0") == ("127.0.0.1", 0)  # the server picks a free port
    with _listening() as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"--serve {port}: cannot listen on 127\.0\.0\.1:{port}: the port is"):
            check_serve(str(port))
    with pytest.raises(ConfigError, match="cannot resolve host 'no-such-host.invalid'"):
        check_serve("no-such-host.invalid:8080")


def test_the_served_line_gives_an_address_a_client_can_use():
    every = parse_network("rtsp://@:8554/seg")
    line = served_line(every, ["/seg"], ("u", "pw"), "192.168.1.5")
    assert line.split()[3] == "rtsp://u:pw@192.168.1.5:8554/seg" and "all interfaces" in line
    assert "rtsp://u:pw@127.0.0.1:8554/seg" in line and "0.0.0.0" not in line
    offline = served_line(every, ["/seg/0", "/seg/1"], None, None)
    assert offline.split()[3] == "rtsp://127.0.0.1:8554/seg/0," and "all interfaces" in offline
    one = served_line(parse_network("rtsp://127.0.0.1:8554/seg"), ["/seg"], None, "192.168.1.5")
    assert one == "serving RTSP on rtsp://127.0.0.1:8554/seg"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")
    return tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.mark.skipif(_has_gst_rtsp(), reason="this Python has PyGObject and GstRtspServer")
def test_without_pygobject_the_rtsp_output_is_one_line_naming_what_to_install(tiny, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", size=CLIP, frames=5)
    done = subprocess.run([sys.executable, "-m", "unet_edge", "run", "--model", str(tiny), "--source", str(clip),
                           "--save", "rtsp://127.0.0.1:8554/seg"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "gir1.2-gst-rtsp-server-1.0" in done.stderr, done.stderr
    # the environment that has them: how to build it and how to run from it
    assert "make gst" in done.stderr and ".venv-gst/bin/unet-edge run" in done.stderr, done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(model: Path, source: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "unet_edge", "run", "--model", str(model), "--source",
                             str(source), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _served_url(run: subprocess.Popen) -> str:
    for line in run.stdout:
        if line.startswith("serving RTSP on "):
            return line.split()[3]
    raise AssertionError(run.stderr.read()[-2000:])


class Reader(threading.Thread):
    """An RTSP client through GStreamer's rtspsrc: counts decoded frames, notes when the first came."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.url, self.seconds, self.frames, self.first = url, seconds, 0, None

    def run(self) -> None:
        start = time.monotonic()
        cap = cv2.VideoCapture(f"rtspsrc location={self.url} latency=0 tcp-timeout=5000000 ! decodebin ! "
                               "videoconvert ! appsink max-buffers=4", cv2.CAP_GSTREAMER)
        while cap.isOpened() and time.monotonic() - start < self.seconds:
            ok, _ = cap.read()
            if not ok:
                break
            self.frames += 1
            self.first = self.first or time.monotonic() - start
        cap.release()


def _request(sock: socket.socket, text: str) -> tuple[str, str]:
    sock.sendall(text.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    length = re.search(rb"Content-Length: (\d+)", head)
    body = b""
    while length and len(body) < int(length.group(1)):
        body += sock.recv(int(length.group(1)) - len(body))
    return head.decode(), body.decode()


def _stalled_client(url: str) -> socket.socket:
    """Plays ``url`` over RTSP/TCP (interleaved), then never reads: its frames pile up at the server."""
    host, port = re.match(r"rtsp://([^:/]+):(\d+)", url).groups()
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    _, sdp = _request(sock, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n")
    control = re.search(r"a=control:(\S+)", sdp.split("m=video")[1]).group(1)
    head, _ = _request(sock, f"SETUP {url}/{control} RTSP/1.0\r\nCSeq: 2\r\n"
                             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")
    session = re.search(r"Session: ([^;\r]+)", head).group(1)
    sock.sendall(f"PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n".encode())
    return sock


def _stats_frames(stdout: str) -> int:
    return int(re.search(r"^frames (\d+)", stdout, re.M).group(1))


@needs_rtsp
@pytest.mark.gstreamer
@pytest.mark.slow
@pytest.mark.parametrize("frames", [300])
def test_two_rtsp_clients_one_stalled_and_a_late_one_get_a_realtime_clip(tiny, tmp_path, frames):
    """A 30 fps clip played --realtime with a file recording beside: the reading client gets >= 90% of
    the frames while a stalled client holds its connection open, and one that joins late decodes
    within about a second."""
    port = _free_port()
    run = _run(tiny, write_clip(tmp_path / "clip.mp4", size=CLIP, frames=frames), "--realtime",
               "--save", str(tmp_path / "out.mp4"),
               "--save", f"rtsp://127.0.0.1:{port}/seg")
    try:
        url = _served_url(run)
        stalled = _stalled_client(url)  # DESCRIBE waits for the first frame: the stream is on
        reader = Reader(url, seconds=frames / 30 + 3)
        reader.start()
        time.sleep(4)
        late = Reader(url, seconds=3)
        late.start()
        stdout, stderr = run.communicate(timeout=120)
        reader.join(10)
        late.join(10)
        stalled.close()
    finally:
        run.kill()
    assert run.returncode == 0, stderr[-2000:]
    assert _stats_frames(stdout) >= 0.95 * frames, stdout  # the stalled client never held the pipeline back
    assert reader.frames >= 0.9 * frames, (reader.frames, stdout)
    assert late.first is not None and late.first < 1.5, late.first
    assert cv2.VideoCapture(str(tmp_path / "out.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) >= 0.95 * frames


@needs_rtsp
@pytest.mark.gstreamer
@pytest.mark.slow
def test_rtsp_beyond_loopback_asks_for_credentials(tiny, tmp_path):
    port = _free_port()
    run = _run(tiny, write_clip(tmp_path / "clip.mp4", size=CLIP, frames=30), "--loop", "--realtime",
               "--max-frames", "600",  # paced: still serving when the client comes (20 s; killed after)
               "--save", f"rtsp://@:{port}/seg")
    try:
        url = _served_url(run)
        user, password = re.match(r"rtsp://([^:]+):([^@]+)@", url).groups()
        plain = f"rtsp://127.0.0.1:{port}/seg"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head, _ = _request(sock, f"DESCRIBE {plain} RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            assert head.startswith("RTSP/1.0 401"), head
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            head, sdp = _request(sock, f"DESCRIBE {plain} RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic {basic}\r\n\r\n")
            assert head.startswith("RTSP/1.0 200") and "H264" in sdp, head
        reader = Reader(url, seconds=2)
        reader.run()
        assert reader.frames > 10
    finally:
        run.kill()
        run.wait()


@needs_rtsp
@pytest.mark.gstreamer
@pytest.mark.slow
def test_rtp_writes_the_sdp_and_a_receiver_decodes_the_stream(tiny, tmp_path):
    port = _free_port()
    caps = "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000"
    got: list[np.ndarray] = []

    def receive() -> None:  # opening blocks until the first packets arrive
        cap = cv2.VideoCapture(f'udpsrc port={port} caps="{caps}" ! rtph264depay ! avdec_h264 ! videoconvert ! '
                               "appsink", cv2.CAP_GSTREAMER)
        while cap.isOpened() and len(got) < 30:
            ok, image = cap.read()
            if not ok:
                break
            got.append(image)
        cap.release()

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    time.sleep(0.5)
    run = subprocess.Popen([sys.executable, "-m", "unet_edge", "run", "--model", str(tiny), "--source",
                            str(write_clip(tmp_path / "clip.mp4", size=CLIP, frames=90)), "--realtime",
                            "--save", f"rtp://127.0.0.1:{port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        stdout, stderr = run.communicate(timeout=60)
        receiver.join(10)
    finally:
        run.kill()
    assert len(got) == 30 and got[0].shape == (120, 160, 3), len(got)
    assert run.returncode == 0, stderr[-2000:]
    sdp = (tmp_path / f"rtp_127.0.0.1_{port}.sdp").read_text()
    assert f"m=video {port} RTP/AVP 96" in sdp and "a=rtpmap:96 H264/90000" in sdp
