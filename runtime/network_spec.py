"""The text of ``--save rtsp://...`` and ``rtp://...`` (:func:`parse_network`) and its check against
this machine (:func:`check_network`): every stream's port in 1-65535, a host that resolves, an RTSP
port free to listen on. Pure Python and sockets, no GStreamer: a run checks its plan with these before
the model loads, and the sinks themselves (:mod:`.network_out`) need PyGObject only after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from unet_edge.core import ports
from unet_edge.core.errors import ConfigError

SCHEMES = ("rtsp", "rtp")
STREAM_STEP = 2  # rtp://: stream i goes to PORT + 2i (RTP's convention leaves PORT+1 to RTCP)


@dataclass(frozen=True)
class NetworkSpec:
    """A parsed ``--save rtsp://...`` or ``rtp://...``."""

    scheme: str
    host: str
    port: int
    path: str = ""  # the RTSP mount, maybe with {stream}
    user: str | None = None
    password: str | None = None
    given: str = ""  # as typed, the password masked: what messages show

    def display(self, host: str | None = None) -> str:
        """The URL without credentials; ``host`` in place of the bound one."""
        return f"{self.scheme}://{host or self.host}:{self.port}{self.path}"

    @property
    def shown(self) -> str:
        return self.given or self.display()

    def ports(self, n_streams: int) -> list[int]:
        """The port of each stream: one RTSP server for all, PORT + 2i for RTP."""
        return [self.port] if self.scheme == "rtsp" else [self.port + STREAM_STEP * i for i in range(n_streams)]


def _port_text(netloc: str) -> str:
    """The PORT of ``[user:pw@]HOST:PORT`` as typed ('' where none is given)."""
    hostport = netloc.rsplit("@", 1)[-1]
    if hostport.startswith("["):  # [IPv6]:PORT
        return hostport.partition("]")[2].lstrip(":")
    return hostport.rpartition(":")[2] if ":" in hostport else ""


def _masked(text: str, password: str | None) -> str:
    return text.replace(f":{password}@", ":***@", 1) if password else text


def parse_network(text: str) -> NetworkSpec | None:
    """``rtsp://[user:pw@]HOST:PORT/PATH`` or ``rtp://HOST:PORT`` as a NetworkSpec; None for anything else.
    Only the text is checked here; :func:`check_network` checks it against this machine."""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in SCHEMES:
        return None
    parts = urlsplit(text.replace("{stream}", "STREAMSLOT"))
    shown = _masked(text, parts.password)
    host = parts.hostname or ""
    host = "0.0.0.0" if host in ("", "@") or text.split("://", 1)[1].startswith(("@:", "@/")) else host
    example = f"{scheme}://{'@' if host == '0.0.0.0' else host}:{'8554/seg' if scheme == 'rtsp' else '5004'}"
    port_text = _port_text(parts.netloc)
    if not port_text:
        raise ConfigError(f"--save {shown}: give the port, e.g. {example}")
    if not port_text.isdigit():
        raise ConfigError(f"--save {shown}: port '{port_text}' is not a number, e.g. {example}")
    port = int(port_text)
    ports.check_port("--save", shown, port)
    path = parts.path.replace("STREAMSLOT", "{stream}").rstrip("/")
    if scheme == "rtsp" and not path:
        raise ConfigError(f"--save {shown}: give the mount path, e.g. rtsp://{host}:{port}/seg")
    if scheme == "rtp" and path:
        raise ConfigError(f"--save {shown}: rtp:// takes HOST:PORT only (no path)")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if scheme == "rtp" and user:
        raise ConfigError(f"--save {shown}: RTP has no credentials; use rtsp:// for a stream that needs them")
    if user is not None and not password:
        raise ConfigError(f"--save {shown}: give the password too, rtsp://{user}:PASSWORD@...")
    return NetworkSpec(scheme, host, port, path, user, password, shown)


def check_network(spec: NetworkSpec, n_streams: int) -> None:
    """``spec`` against this machine, for ``n_streams`` sources: every stream's port in 1-65535, the host
    resolves, an RTSP server's port is free to listen on. Imports no GStreamer; writes nothing."""
    used = spec.ports(n_streams)
    if used[-1] > 65535:
        raise ConfigError(f"--save {spec.shown}: {n_streams} streams need ports {used[0]}-{used[-1]} (PORT+"
                          f"{STREAM_STEP} per stream), past 65535; give a port of at most "
                          f"{65535 - STREAM_STEP * (n_streams - 1)}")
    if spec.scheme == "rtp":
        if spec.host in ports.ALL_INTERFACES:
            raise ConfigError(f"--save {spec.shown}: rtp:// sends to a receiver: give its address, e.g. "
                              f"rtp://192.168.1.20:{spec.port} (rtsp://@:PORT/PATH serves every interface)")
        ports.resolve("--save", spec.shown, spec.host)
    else:
        ports.check_free("--save", spec.shown, spec.host, spec.port)


def sdp_paths(spec: NetworkSpec, n_streams: int, sdp_dir: Path = Path(".")) -> list[Path]:
    """The ``.sdp`` files an ``rtp://`` output writes (one per stream), for the run's plan; none for rtsp://."""
    if spec.scheme != "rtp":
        return []
    return [sdp_dir / f"rtp_{spec.host.replace(':', '_')}_{port}.sdp" for port in spec.ports(n_streams)]


def mount_paths(path: str, n: int) -> list[str]:
    """``/seg`` -> ``/seg`` for one stream, ``/seg/0``, ``/seg/1``, ... for several; ``{stream}`` is replaced."""
    if "{stream}" in path:
        return [path.replace("{stream}", str(i)) for i in range(n)]
    return [path] if n == 1 else [f"{path}/{i}" for i in range(n)]


def served_line(spec: NetworkSpec, mounts: list[str], credentials: tuple[str, str] | None,
                lan: str | None) -> str:
    """What the run prints of its RTSP server: URLs a client can open. Bound to every interface, that is
    this machine's network address (``lan``), with the loopback URL for this machine beside."""
    cred = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
    if spec.host not in ports.ALL_INTERFACES:
        return "serving RTSP on " + ", ".join(f"rtsp://{cred}{spec.host}:{spec.port}{m}" for m in mounts)
    here = ", ".join(f"rtsp://{cred}127.0.0.1:{spec.port}{m}" for m in mounts)
    if lan is None:
        return (f"serving RTSP on {here} (all interfaces; no network address found here: from another machine "
                "use this one's address)")
    return ("serving RTSP on " + ", ".join(f"rtsp://{cred}{lan}:{spec.port}{m}" for m in mounts) +
            f" (all interfaces; on this machine also {here})")
