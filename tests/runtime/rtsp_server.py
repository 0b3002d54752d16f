"""A real RTSP server (GstRtspServer) serving a video clip at /clip, for the reconnect tests.

Run with Debian's Python (``/usr/bin/python3``, which has ``gi`` and the RTSP server library):
``python3 rtsp_server.py PORT CLIP``. It decodes the clip and sends it as H.264 over RTP, paced in
real time, from the start for each client, and prints ``READY`` once it listens.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( filesrc location={clip} ! qtdemux ! decodebin ! videoconvert ! "
                       "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=800 ! "
                       "rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(False)
    server.get_mount_points().add_factory("/clip", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
