"""MJPEG over HTTP: a live view of a headless Jetson from a laptop's browser.

``/`` is a small page with the stream and the legend, ``/stream`` the multipart MJPEG itself,
``/snapshot.jpg`` the latest frame. Each frame is JPEG-encoded once, only while someone watches;
every viewer thread sends the newest frame it has not sent yet, so a slow viewer skips frames
and never stalls the pipeline or the other viewers. Connections are capped (a burst gets 503s,
not a thread each), and a viewer that stops reading is dropped after a timeout.

Bound beyond loopback the server is reachable by anyone on the network, so every path then
needs ``?token=...`` (in the query, since an ``<img>`` tag cannot send headers): generated
and printed at start, or given with ``--serve-token``.
"""

from __future__ import annotations

import errno
import hmac
import html
import re
import secrets
import socket
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, quote, urlsplit

import cv2
import numpy as np

from unet_edge.core import ports
from unet_edge.core.errors import ConfigError, SinkError
from unet_edge.runtime.http_base import MAX_CLIENTS, BoundedServer, is_loopback, parse_address

__all__ = ["MAX_CLIENTS", "MjpegServer", "check_serve", "parse_address"]

BOUNDARY = b"unetedgeframe"


def check_serve(text: str) -> tuple[str, int]:
    """``--serve [HOST:]PORT`` parsed and checked against this machine before anything starts: the host
    resolves and the port is free to listen on (port 0: the server picks a free one)."""
    host, port = parse_address(text)
    if port:
        ports.check_free("--serve", text, host, port)
    else:
        ports.resolve("--serve", text, host)
    return host, port


class MjpegServer:
    """The live view of ``streams`` streams: ``/stream`` (stream 0) and ``/stream/N``, a grid page at ``/``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, legend: Sequence[tuple[str, Sequence[int]]] = (),
                 quality: int = 80, title: str = "unet-edge", token: str | None = None, max_clients: int = MAX_CLIENTS,
                 streams: int = 1) -> None:
        """``legend``: (class name, RGB colour) pairs shown beside the view."""
        self.host, self.port, self.quality, self.title = host, port, quality, title
        if token is not None and not token.strip():
            raise ConfigError("--serve-token: give a non-empty token")
        self.token = token or (None if is_loopback(host) else secrets.token_urlsafe(16))
        self.max_clients = max_clients
        self.legend = list(legend)
        self.cond = threading.Condition()
        self.streams = streams
        self.jpeg: list[bytes | None] = [None] * streams
        self.seq = [0] * streams
        self.viewers = [0] * streams
        self.served_frames = 0
        self.running = False
        self.httpd: BoundedServer | None = None

    def start(self) -> MjpegServer:
        handler = type("Handler", (_Handler,), {"srv": self})
        try:
            self.httpd = BoundedServer((self.host, self.port), handler, self.max_clients)
        except (OSError, OverflowError) as exc:  # OverflowError: a port number past 65535
            if isinstance(exc, socket.gaierror):
                raise SinkError(f"--serve {self.host}:{self.port}: cannot resolve host '{self.host}' "
                                f"({exc.strerror})") from exc
            if getattr(exc, "errno", None) == errno.EADDRINUSE:
                raise SinkError(f"--serve {self.host}:{self.port}: port already in use; choose another port") \
                    from exc
            why = getattr(exc, "strerror", None) or exc
            raise SinkError(f"--serve {self.host}:{self.port}: cannot listen ({why})") from exc
        self.port = self.httpd.server_address[1]  # port 0 picks a free one
        self.running = True
        threading.Thread(target=self.httpd.serve_forever, name="mjpeg", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/" + self.query

    @property
    def query(self) -> str:
        return f"?token={quote(self.token)}" if self.token else ""

    def allowed(self, path: str) -> bool:
        if not self.token:
            return True
        given = parse_qs(urlsplit(path).query).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def publish(self, image: np.ndarray, stream: int = 0) -> None:
        """Offer a new frame of ``stream``; encodes only while it has a viewer (or none was ever encoded)."""
        if self.viewers[stream] == 0 and self.jpeg[stream] is not None:
            return
        ok, buf = cv2.imencode(".jpg", image, (cv2.IMWRITE_JPEG_QUALITY, self.quality))
        if not ok:
            return
        with self.cond:
            self.jpeg[stream], self.seq[stream] = buf.tobytes(), self.seq[stream] + 1
            self.cond.notify_all()

    def next_frame(self, last_seq: int, timeout: float = 1.0, stream: int = 0) -> tuple[int, bytes | None]:
        with self.cond:
            if self.seq[stream] == last_seq and self.running:
                self.cond.wait(timeout)
            seq = self.seq[stream]
            return seq, (self.jpeg[stream] if seq != last_seq else None)

    def stop(self) -> None:
        self.running = False
        with self.cond:
            self.cond.notify_all()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def page(self) -> bytes:
        items = "".join(f'<li><span style="background:rgb{tuple(c)}"></span>{html.escape(n)}</li>'
                        for n, c in self.legend)
        return (f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<style>body{{font-family:sans-serif;background:#111;color:#eee;margin:1em}}img{{max-width:100%;border:1px solid #444}}
ul{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.8em}}li span{{display:inline-block;width:1em;
height:1em;margin-right:.3em;vertical-align:middle}}</style></head><body><h3>{html.escape(self.title)}</h3>
{self._images()}
<ul id="legend">{items}</ul></body></html>""").encode()

    def _images(self) -> str:
        q = html.escape(self.query)
        if self.streams == 1:
            return f'<img id="stream" src="/stream{q}" alt="live segmentation stream">'
        cells = "".join(f'<figure><img id="stream{i}" src="/stream/{i}{q}" alt="stream {i}">'
                        f"<figcaption>stream {i}</figcaption></figure>" for i in range(self.streams))
        cols = 1 if self.streams == 1 else 2 if self.streams <= 4 else 3
        return (f'<div id="grid" style="display:grid;grid-template-columns:repeat({cols},1fr);gap:.5em">'
                f"{cells}</div>")


# /stream, /stream/N, /snapshot.jpg, /snapshot/N.jpg
STREAM_PATH = re.compile(r"/(stream|snapshot)(?:/(\d+))?(?:\.jpg)?")


class _Handler(BaseHTTPRequestHandler):
    srv: MjpegServer
    timeout = 10  # a viewer that stops reading is dropped instead of holding a thread forever

    def log_message(self, *args) -> None:  # keep the console for the stats table
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if not self.srv.allowed(self.path):
            self._send(403, "text/plain", b"forbidden: this live view needs ?token=... (printed when it started)\n")
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", self.srv.page())
        elif (m := STREAM_PATH.fullmatch(path)) and self._known(m.group(2)):
            stream = int(m.group(2) or 0)
            if m.group(1) == "stream":
                self._stream(stream)
            else:
                _, jpeg = self.srv.next_frame(-1, 0, stream)
                self._send(200, "image/jpeg", jpeg) if jpeg else self._send(503, "text/plain", b"no frame yet\n")
        else:
            self._send(404, "text/plain", b"not found\n")

    def _known(self, index: str | None) -> bool:
        return index is None or int(index) < self.srv.streams

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, stream: int) -> None:
        srv = self.srv
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        with srv.cond:
            srv.viewers[stream] += 1
        seq = -1
        try:
            while srv.running:
                seq, jpeg = srv.next_frame(seq, stream=stream)
                if jpeg is None:
                    continue
                self.wfile.write(b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                srv.served_frames += 1
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with srv.cond:
                srv.viewers[stream] -= 1
