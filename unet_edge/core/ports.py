"""Network addresses of a command's outputs, checked before anything starts: a port in 1-65535, a host
that resolves, and a port that is free to listen on. A server that fails to bind after the model has
loaded (or after a file was written) has already cost the user a wait and maybe a stray file; these
checks say why first, in one line naming the option and the value.

Every function takes ``option`` and ``given`` (the option and its value as typed) for its message.
"""

from __future__ import annotations

import errno
import socket

from unet_edge.core.errors import ConfigError

ALL_INTERFACES = ("0.0.0.0", "::", "")
# TEST-NET-1 (RFC 5737): never routed, so connecting a UDP socket to it sends nothing and only asks
# the kernel which local address its default route would use.
_PROBE = ("192.0.2.1", 9)


def where(host: str, port: int) -> str:
    """``host:port`` as a message shows it; every interface says so."""
    if host in ALL_INTERFACES:
        return f"0.0.0.0:{port} (all interfaces)"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_port(option: str, given: str, port: int, lowest: int = 1) -> None:
    """``port`` within ``lowest``-65535 (0 lets a server pick one: only where ``lowest`` is 0)."""
    if not lowest <= port <= 65535:
        raise ConfigError(f"{option} {given}: port {port} is outside {lowest}-65535")


def resolve(option: str, given: str, host: str) -> str:
    """The first address of ``host``; a host that does not resolve is one line naming it."""
    if host in ALL_INTERFACES:
        return "0.0.0.0" if host == "" else host
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{option} {given}: cannot resolve host '{host}' ({why}); give a host name this "
                          "machine can look up, or an IP address") from exc
    return infos[0][4][0]


def check_free(option: str, given: str, host: str, port: int) -> None:
    """Bind a TCP socket to ``host:port`` as a server would (SO_REUSEADDR, as GStreamer, http.server and
    Triton set it) and let go at once: a port that another program listens on, an address that is not
    this machine's, or a privileged port is one line naming the cause."""
    address = resolve(option, given, host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            at = where(host if host in ALL_INTERFACES else address, port)
            if exc.errno == errno.EADDRINUSE:
                msg = f"cannot listen on {at}: the port is already in use; choose another port"
            elif exc.errno == errno.EADDRNOTAVAIL:
                msg = (f"cannot listen on {at}: {address} is not an address of this machine; bind one of its own "
                       "addresses, 127.0.0.1 for this machine only, or 0.0.0.0 for every interface")
            elif exc.errno == errno.EACCES:
                msg = f"cannot listen on {at}: ports below 1024 need root; choose a port above 1023"
            else:
                msg = f"cannot listen on {at} ({exc.strerror or exc})"
            raise ConfigError(f"{option} {given}: {msg}") from exc
        except OverflowError as exc:  # a port past 65535 given by a caller that did not check it
            raise ConfigError(f"{option} {given}: port {port} is outside 1-65535") from exc


def lan_address() -> str | None:
    """This machine's address on its default route, which another machine can reach; None offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(_PROBE)
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address
