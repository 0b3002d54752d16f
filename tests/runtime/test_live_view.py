"""The live view under load (many viewers, some that never read, a burst), and its token."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from unet_edge.runtime.mjpeg import MAX_CLIENTS, MjpegServer
from unet_edge.runtime.run import RunConfig, run_stream

from .http_get import http_get as _get

pytestmark = pytest.mark.slow


def _viewer(port: int, parts: int, out: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/stream")
        resp = conn.getresponse()
        if resp.status != 200:
            out.append(resp.status)
            return
        got = 0
        while got < parts:
            line = resp.fp.readline()
            if not line:
                break
            if line.startswith(b"Content-Length:"):
                resp.fp.readline()
                resp.fp.read(int(line.split(b":")[1]))
                got += 1
        out.append(got)
    except OSError as exc:
        out.append(repr(exc))
    finally:
        conn.close()


def test_twenty_viewers_five_stalled_and_a_burst_do_not_stop_the_pipeline(model, clip):
    urls, result = [], {}
    run = threading.Thread(daemon=True, target=lambda: result.update(run_stream(
        RunConfig(model, str(clip), serve="127.0.0.1:0", max_frames=150, loop=True,
                  realtime=True), log=lambda m: urls.append(m) if m.startswith("serving") else None)))
    baseline = threading.active_count()
    run.start()
    while not urls:
        time.sleep(0.02)
    port = int(urls[0].rsplit(":", 1)[1].strip("/"))
    peak = [0]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], threading.active_count())
            time.sleep(0.01)

    threading.Thread(target=sample, daemon=True).start()
    stalled = []
    for _ in range(5):  # connect, ask for the stream, never read a byte
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        stalled.append(s)
    got: list = []
    viewers = [threading.Thread(target=_viewer, args=(port, 10, got)) for _ in range(20)]
    burst: list[int] = []
    bursters = [threading.Thread(target=lambda: burst.extend(_get(port, "/snapshot.jpg")[0] for _ in range(10)))
                for _ in range(4)]
    for t in viewers + bursters:
        t.start()
    for t in viewers + bursters:
        t.join(timeout=90)
    run.join(timeout=120)
    sampling.set()
    for s in stalled:
        s.close()
    assert not run.is_alive() and result["frames"] == 150  # every frame, whatever the viewers did
    assert len(got) == 20 and all(isinstance(g, int) for g in got), got
    assert sum(g == 10 for g in got) >= 15, got  # most viewers got their frames (a few may be turned away: 503)
    assert len(burst) == 40 and set(burst) <= {200, 503}
    # threads: ours (capture, infer, server, the test's) plus at most one per allowed connection
    assert peak[0] <= baseline + 30 + MAX_CLIENTS, peak


def test_beyond_loopback_every_path_needs_the_token():
    server = MjpegServer("0.0.0.0", 0, [("Road", (128, 64, 128))]).start()
    try:
        assert server.token and f"?token={server.token}" in server.url
        port = server.port
        for path in ("/", "/stream", "/snapshot.jpg", "/nope"):
            assert _get(port, path)[0] == 403
            assert _get(port, path + "?token=wrong")[0] == 403
        status, page = _get(port, f"/?token={server.token}")
        assert status == 200 and f'src="/stream?token={server.token}"'.encode() in page
        assert _get(port, f"/snapshot.jpg?token={server.token}")[0] == 503  # allowed; no frame yet
    finally:
        server.stop()


def test_loopback_needs_no_token_unless_one_is_given():
    open_server = MjpegServer("127.0.0.1", 0).start()
    given = MjpegServer("127.0.0.1", 0, token="s3cret").start()
    try:
        assert open_server.token is None and _get(open_server.port, "/")[0] == 200
        assert _get(given.port, "/")[0] == 403 and _get(given.port, "/?token=s3cret")[0] == 200
    finally:
        open_server.stop()
        given.stop()


def test_the_page_names_the_source_without_its_folder(model, clip):
    urls, pages = [], []

    def log(m: str) -> None:
        if m.startswith("serving"):
            urls.append(m.rsplit(" ", 1)[1])
            pages.append(_get(int(urls[0].rsplit(":", 1)[1].strip("/")), "/")[1].decode())

    run_stream(RunConfig(model, str(clip), serve="127.0.0.1:0", max_frames=3), log=log)
    assert "clip.mp4" in pages[0] and str(clip.parent) not in pages[0]
