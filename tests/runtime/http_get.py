"""A one-request HTTP GET against the live view on 127.0.0.1, for the runtime tests."""

from __future__ import annotations

import http.client


def http_get(port: int, path: str, timeout: float = 20) -> tuple[int, bytes]:
    """(status, body); of a multipart MJPEG stream only its first two lines, since it never ends."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if "multipart" in (resp.getheader("Content-Type") or ""):
            return resp.status, resp.fp.readline() + resp.fp.readline()
        return resp.status, resp.read()
    finally:
        conn.close()
