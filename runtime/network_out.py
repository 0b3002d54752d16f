"""``--save rtsp://HOST:PORT/PATH`` and ``--save rtp://HOST:PORT``: the rendered stream as H.264.

``rtsp://`` always serves, as jetson-inference's ``rtsp://@:8554/path`` does: HOST is the
interface to bind (``@`` or ``0.0.0.0`` for all), and VLC, ffplay or GStreamer's ``rtspsrc``
connect to it. One GstRtspServer (the system's GStreamer through PyGObject, as on JetPack)
serves a mount per stream (``PATH/0``, ``PATH/1``, ... or ``{stream}`` in PATH); each mount is one
shared encoder for every client. Frames enter through a leaky ``appsrc`` that holds at most two, so
neither the encoder nor a client that stops reading can stall the pipeline: what they cannot take is
dropped. A key frame every second lets a late client start within one. Bound beyond loopback the
server asks for RTSP basic auth: ``rtsp://user:pw@...`` in ``--save``, else generated and printed.

``rtp://HOST:PORT`` sends RTP/H.264 to HOST (unicast or multicast) without a server and writes the
``.sdp`` file a receiver opens (``ffplay -protocol_whitelist file,udp,rtp out.sdp``); several streams
use PORT, PORT+2, ...

Before anything starts, :func:`check_network` checks each output against this machine (every
stream's port in 1-65535, the host resolves, an RTSP port is free) and :func:`check_gstreamer` that
this Python can serve at all; neither imports GStreamer before the network checks pass.
"""

from __future__ import annotations

import secrets
import sys
import threading
from pathlib import Path

import numpy as np

from unet_edge.core import ports
from unet_edge.core.errors import ConfigError, SinkError
from unet_edge.core.io import atomic_path
from unet_edge.runtime.http_base import is_loopback
from unet_edge.runtime.network_spec import (  # noqa: F401
    SCHEMES,
    NetworkSpec,
    check_network,
    mount_paths,
    parse_network,
    sdp_paths,
    served_line,
)
from unet_edge.runtime.sinks import Sink

# The first that this GStreamer has: the Jetson's hardware encoder (Orin Nano has none), then software.
ENCODERS = {
    "nvv4l2h264enc": "nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc insert-sps-pps=true "
                     "iframeinterval={gop} idrinterval={gop} bitrate={bps} ! h264parse",
    "x264enc": "video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
               "bitrate={kbps} ! video/x-h264,profile=baseline",
    "openh264enc": "video/x-raw,format=I420 ! openh264enc gop-size={gop} bitrate={bps} ! h264parse",
}
BITS_PER_PIXEL = 0.1  # of width * height * fps: about 0.9 Mbit/s for 640x480 at 30 fps
# appsrc leaks its oldest frame once two wait: the encoder (and so the clients) only ever get fresh ones.
APPSRC = "appsrc name=src is-live=true format=time do-timestamp=true block=false max-buffers=2 leaky-type=downstream"
APT = ("python3-gi python3-opencv python3-venv gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good "
       "gstreamer1.0-plugins-ugly gstreamer1.0-libav")
INSTALL = ("rtsp:// and rtp:// outputs need PyGObject and the system's GStreamer RTSP server, which pip cannot "
           f"install: sudo apt-get install {APT}, then 'make gst' in the unet-edge checkout (builds .venv-gst over "
           "the system Python), then run from it: .venv-gst/bin/unet-edge run ... (on a Jetson, JetPack has them: "
           "a venv made with --system-site-packages, docs/jetson.md)")


def check_networks(specs: list[NetworkSpec], n_streams: int) -> None:
    """Every output of the run: no two on one port, each checked against this machine
    (:func:`check_network`), then whether this Python can stream at all (:func:`check_gstreamer`)."""
    taken: dict[tuple[str, int], NetworkSpec] = {}
    for spec in specs:
        for port in spec.ports(n_streams):
            other = taken.setdefault((spec.host, port), spec)
            if other is not spec:
                raise ConfigError(f"--save {other.shown} and --save {spec.shown} both use {spec.host}:{port}; "
                                  "give each its own port")
    for spec in specs:
        check_network(spec, n_streams)
    if specs:
        check_gstreamer(specs[0].shown)


def check_gstreamer(given: str = "") -> None:
    """This Python has PyGObject, GStreamer's RTSP server and an H.264 encoder: else one line naming what to
    install, and how to run from the environment that has them (``given``: the ``--save`` value it is for)."""
    encoder_or_fail(load_gst(given)[0], given)


def load_gst(given: str = ""):
    """(Gst, GLib, GstRtspServer) of the system's GStreamer; missing ones are one line naming what to install
    (``given``: the ``--save`` value that needs them)."""
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as exc:
        raise SinkError(f"--save {given or 'rtsp://'}: {INSTALL} [{sys.executable}: {exc}]") from exc
    Gst.init(None)
    return Gst, GLib, GstRtspServer


def encoder_name(gst) -> str | None:
    """The H.264 encoder the outputs will use here, or None."""
    return next((name for name in ENCODERS if gst.ElementFactory.find(name) is not None), None)


def encoder_or_fail(gst, given: str = "") -> str:
    """The encoder's name; none is one line naming the package that has one."""
    name = encoder_name(gst)
    if name is None:
        raise SinkError(f"--save {given or 'rtsp://'}: no H.264 encoder in this GStreamer: sudo apt-get install "
                        "gstreamer1.0-plugins-ugly (x264enc) or the openh264 plugin")
    return name


def encoder(gst, fps: float, width: int, height: int) -> str:
    """The encoder part of a launch line (after videoconvert): the first of ENCODERS that exists."""
    name = encoder_or_fail(gst)
    bps = max(300_000, int(width * height * max(fps, 1.0) * BITS_PER_PIXEL))
    return ENCODERS[name].format(gop=max(1, round(fps or 30)), bps=bps, kbps=bps // 1000)


def caps(gst, image: np.ndarray, fps: float):
    return gst.Caps.from_string(f"video/x-raw,format=BGR,width={image.shape[1]},height={image.shape[0]},"
                                f"framerate={max(1, round(fps or 30))}/1")


def push(gst, appsrc, image: np.ndarray) -> None:
    """Hand ``image`` to ``appsrc`` without waiting (a full queue leaks its oldest frame)."""
    appsrc.emit("push-buffer", gst.Buffer.new_wrapped(np.ascontiguousarray(image).tobytes()))


class RtspSink(Sink):
    """One RTSP server, one mount per stream, one shared encoder per mount."""

    def __init__(self, spec: NetworkSpec, fps: list[float], log=print) -> None:
        self.gst, glib, rtsp = load_gst(spec.shown)
        self.spec, self.fps = spec, fps
        self.mounts = mount_paths(spec.path, len(fps))
        self.lock = threading.Lock()
        self.appsrc: list = [None] * len(fps)
        self.caps: list = [None] * len(fps)
        self.factories: list = []
        server = rtsp.RTSPServer()
        server.set_address(spec.host)
        server.set_service(str(spec.port))
        self.credentials = self._auth(rtsp, server)
        for i, mount in enumerate(self.mounts):
            self.factories.append(self._factory(rtsp, i))
            server.get_mount_points().add_factory(mount, self.factories[-1])
        self.context = glib.MainContext.new()
        if server.attach(self.context) == 0:
            check_network(spec, len(fps))  # names the cause (host, address, port in use) where it can
            raise SinkError(f"--save {spec.shown}: GStreamer's RTSP server cannot listen on "
                            f"{ports.where(spec.host, spec.port)}")
        self.server, self.loop = server, glib.MainLoop.new(self.context, False)
        self.thread = threading.Thread(target=self.loop.run, name="rtsp-server", daemon=True)
        self.thread.start()
        log(served_line(spec, self.mounts, self.credentials, ports.lan_address()))

    def _auth(self, rtsp, server) -> tuple[str, str] | None:
        """Basic auth unless bound to loopback only: the given credentials, or generated ones."""
        if self.spec.user is None and is_loopback(self.spec.host):
            return None
        user, password = self.spec.user or "unet-edge", self.spec.password or secrets.token_urlsafe(12)
        auth = rtsp.RTSPAuth()
        token = rtsp.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(rtsp.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        return user, password

    def _factory(self, rtsp, stream: int):
        factory = rtsp.RTSPMediaFactory()
        factory.set_launch(self._launch(stream, 640, 480))
        factory.set_shared(True)  # one encoder for every client of this mount
        if self.credentials:
            permissions = rtsp.RTSPPermissions()
            permissions.add_permission_for_role("viewer", "media.factory.access", True)
            permissions.add_permission_for_role("viewer", "media.factory.construct", True)
            factory.set_permissions(permissions)
        factory.connect("media-configure", self._configure, stream)
        return factory

    def _launch(self, stream: int, width: int, height: int) -> str:
        return (f"( {APPSRC} ! videoconvert ! {encoder(self.gst, self.fps[stream], width, height)} ! "
                "rtph264pay name=pay0 pt=96 config-interval=-1 )")

    def _configure(self, factory, media, stream: int) -> None:
        appsrc = media.get_element().get_child_by_name("src")
        with self.lock:
            if self.caps[stream] is not None:
                appsrc.set_property("caps", self.caps[stream])
            self.appsrc[stream] = appsrc
        media.connect("unprepared", self._unprepared, stream, appsrc)

    def _unprepared(self, media, stream: int, appsrc) -> None:
        # Only this media's source: a client that disconnects just before another connects has its
        # media unprepared after the new one is configured, and must not stop the frames to it.
        with self.lock:
            if self.appsrc[stream] is appsrc:
                self.appsrc[stream] = None

    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        with self.lock:
            appsrc = self.appsrc[stream]
            shape = self.caps[stream].get_structure(0) if self.caps[stream] is not None else None
            if shape is None or (shape.get_value("height"), shape.get_value("width")) != image.shape[:2]:
                self.caps[stream] = caps(self.gst, image, self.fps[stream])
                # the bitrate follows the size; a client already watching keeps its encoder's
                self.factories[stream].set_launch(self._launch(stream, image.shape[1], image.shape[0]))
                if appsrc is not None:
                    appsrc.set_property("caps", self.caps[stream])
        if appsrc is not None:  # nobody watching: nothing to encode
            push(self.gst, appsrc, image)
        return True

    def close(self) -> None:
        with self.lock:
            sources, self.appsrc = self.appsrc, [None] * len(self.appsrc)
        for appsrc in sources:
            if appsrc is not None:
                appsrc.emit("end-of-stream")
        self.loop.quit()
        self.thread.join(timeout=5)


class RtpSink(Sink):
    """RTP/H.264 to HOST:PORT (+2 per further stream), with an ``.sdp`` file per stream."""

    def __init__(self, spec: NetworkSpec, fps: list[float], sdp_dir: Path = Path("."), log=print) -> None:
        self.gst = load_gst(spec.shown)[0]
        self.spec, self.fps = spec, fps
        self.pipelines: list = [None] * len(fps)
        self.ports = spec.ports(len(fps))
        self.sdp = sdp_paths(spec, len(fps), sdp_dir)
        for port, path in zip(self.ports, self.sdp):
            write_sdp(path, ports.resolve("--save", spec.shown, spec.host), port)
        log("sending RTP/H.264 to " + ", ".join(f"{spec.host}:{port} (receivers open {p})"
                                               for port, p in zip(self.ports, self.sdp)))

    def write(self, image: np.ndarray, stream: int = 0) -> bool:
        if self.pipelines[stream] is None:
            self.pipelines[stream] = self._start(image, stream)
        push(self.gst, self.pipelines[stream].get_by_name("src"), image)
        return True

    def _start(self, image: np.ndarray, stream: int):
        gst, fps = self.gst, self.fps[stream]
        line = (f"{APPSRC} ! videoconvert ! {encoder(gst, fps, image.shape[1], image.shape[0])} ! "
                "rtph264pay pt=96 config-interval=-1 ! "
                f"udpsink host={self.spec.host} port={self.ports[stream]} sync=false async=false")
        pipeline = gst.parse_launch(line)
        pipeline.get_by_name("src").set_property("caps", caps(gst, image, fps))
        if pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
            raise SinkError(f"--save {self.spec.shown}: GStreamer cannot start the RTP sender")
        return pipeline

    def close(self) -> None:
        for pipeline in self.pipelines:
            if pipeline is not None:
                pipeline.set_state(self.gst.State.NULL)


def write_sdp(path: Path, host: str, port: int) -> None:
    """The session description a receiver needs for RTP/H.264 payload 96 on ``host:port``."""
    family = "IP6" if ":" in host else "IP4"
    text = (f"v=0\r\no=- 0 0 IN {family} {host}\r\ns=unet-edge\r\nc=IN {family} {host}\r\nt=0 0\r\n"
            f"m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n")
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    except OSError as exc:
        raise SinkError(f"cannot write {path} ({exc.strerror or exc})") from exc


def open_network(spec: NetworkSpec, fps: list[float], log=print) -> Sink:
    """The sink of a parsed ``--save`` URL, its server listening (or its .sdp written) before the first frame;
    checked first (:func:`check_network`), for callers that did not check their plan."""
    check_network(spec, len(fps))
    check_gstreamer(spec.shown)  # an encoder too, before an .sdp promises a stream
    return RtspSink(spec, fps, log) if spec.scheme == "rtsp" else RtpSink(spec, fps, log=log)
