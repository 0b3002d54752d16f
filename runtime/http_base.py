"""HTTP plumbing of the live view: the --serve address, loopback checks, a connection-capped server."""

from __future__ import annotations

import ipaddress
import threading
from http.server import ThreadingHTTPServer

from unet_edge.core.errors import ConfigError

MAX_CLIENTS = 32  # concurrent connections; more get 503 at once


def parse_address(text: str) -> tuple[str, int]:
    """'8080' -> ('127.0.0.1', 8080); '0.0.0.0:8080' binds every interface, on request only."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError as exc:
        raise ConfigError(f"--serve '{text}': expected HOST:PORT or PORT") from exc
    if not 0 <= number <= 65535:
        raise ConfigError(f"--serve '{text}': port {number} is outside 0-65535")
    return (host.strip("[]") or "127.0.0.1"), number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name or "": every interface or a DNS name, not only this machine
        return False


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_clients`` of them."""

    daemon_threads = True

    def __init__(self, address, handler, max_clients: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_clients)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


