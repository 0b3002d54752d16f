"""Video sources behind one URI scheme, as jetson-inference users know it.

    video.mp4 | images/ | 'frames/*.png' | 0 | v4l2:///dev/video0 | rtsp://host/stream
    | csi://0 | 'videotestsrc ! ... ! appsink' | http://host/stream.mjpg | synth:// (a plug-in)

How they are read (newest frame only for live sources, every frame of a file) is
``runtime/feed.py``'s job.
"""

from __future__ import annotations

import glob as _glob
import os
import sys
from collections.abc import Callable
from pathlib import Path

# FFmpeg would print its own lines about a broken file; we report it in one line instead.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402

from unet_edge.core.errors import SourceError  # noqa: E402
from unet_edge.core.media import is_image  # noqa: E402
from unet_edge.runtime.frame import to_bgr  # noqa: E402
from unet_edge.runtime.source_base import Source, display_name  # noqa: E402, F401 - the base, re-exported

LIVE_TIMEOUT_MS = 5000
# A rosbag2's storage files, by suffix and by their first bytes: read alone when named so.
BAG_SUFFIXES = (".mcap", ".db3")
BAG_MAGIC = {b"\x89MCAP0\r\n": ".mcap", b"SQLite format 3\x00": ".db3"}
BUILTIN_SCHEMES = ("v4l2", "rtsp", "rtsps", "csi", "http", "https")


def has_gstreamer() -> bool:
    """Whether this OpenCV was built with GStreamer (JetPack's is; the registry wheels are not)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def csi_pipeline(sensor: int, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """The Jetson CSI camera through nvarguscamerasrc, newest frame only."""
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},height={height},"
            f"framerate={fps}/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
            "appsink drop=1 max-buffers=1 sync=false")


def rtsp_pipeline(url: str) -> str:
    # rtspsrc's timeout (us): no packet for that long is an error, so a dead stream is reopened.
    return (f"rtspsrc location={url} latency=0 timeout={LIVE_TIMEOUT_MS * 1000} ! decodebin ! videoconvert ! "
            "video/x-raw,format=BGR ! appsink drop=1 max-buffers=1 sync=false")


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: files, cameras, RTSP, GStreamer pipelines."""

    def __init__(self, target, name: str, live: bool, api: int = cv2.CAP_ANY,
                 opener: Callable[[], object] | None = None) -> None:
        self.target, self.name, self.live, self.api = target, name, live, api
        self.opener = opener or self._capture
        self.cap = None

    def _capture(self):
        if self.live and self.api == cv2.CAP_FFMPEG:
            # A stream that stalls without closing must fail a read, not block it: then it is reopened.
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, LIVE_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, LIVE_TIMEOUT_MS]
            try:
                return cv2.VideoCapture(self.target, self.api, params)
            except (TypeError, cv2.error):  # OpenCV < 4.5.2 takes no open parameters
                pass
        return cv2.VideoCapture(self.target, self.api)

    def open(self) -> None:
        self.cap = self.opener()
        if self.cap is None or not self.cap.isOpened():
            if not self.live:
                raise SourceError(f"{self.name}: cannot open source: not a decodable video (corrupt, truncated or "
                                  "an unsupported codec)")
            raise SourceError(f"{self.name}: cannot open source (unplugged, busy, or unsupported by this OpenCV)")
        if self.live and self.api != cv2.CAP_GSTREAMER:
            # Don't let the driver queue stale frames. GStreamer pipelines do this with appsink
            # drop=1 max-buffers=1, and OpenCV 4.6 stops a GStreamer pipeline on this property.
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0

    def read(self):
        ok, frame = self.cap.read()
        return (True, to_bgr(frame)) if ok and frame is not None else (False, None)

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class ImageSource(Source):
    """A folder or glob of images, in name order; unreadable files are skipped and counted."""

    def __init__(self, files: list[Path], name: str) -> None:
        self.files, self.name, self.i, self.skipped = files, name, 0, 0
        self.delivered: list[str] = []  # the stem of each frame read, by frame index (--save-masks names)

    def read(self):
        while self.i < len(self.files):
            path = self.files[self.i]
            self.i += 1
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if img is not None:
                self.delivered.append(path.stem)
                return True, to_bgr(img)
            self.skipped += 1
            print(f"warning: {path}: unreadable image skipped", file=sys.stderr)
        return False, None


# Sources that other packages provide, by URI scheme: filled from the ``unet_edge.sources``
# entry points (the synthetic dashcam declares ``synth`` there) and by register_source().
SOURCE_GROUP = "unet_edge.sources"
_SCHEMES: dict[str, Callable[[str], Source]] = {}


def register_source(scheme: str, factory: Callable[[str], Source]) -> None:
    """Serve ``scheme://...`` URIs with ``factory(uri) -> Source``."""
    _SCHEMES[scheme] = factory


def _plugin(scheme: str) -> Callable[[str], Source] | None:
    if scheme not in _SCHEMES:
        from importlib.metadata import entry_points

        for ep in entry_points(group=SOURCE_GROUP, name=scheme):
            _SCHEMES[scheme] = ep.load()
            break
    return _SCHEMES.get(scheme)


def open_source(uri: str) -> Source:
    """Parse a source URI (see the module doc) into a Source."""
    uri = str(uri).strip()
    if uri.isdigit():
        return CaptureSource(int(uri), f"camera {uri}", True, cv2.CAP_V4L2 if sys.platform == "linux" else cv2.CAP_ANY)
    if uri.startswith("v4l2://"):
        dev = uri[len("v4l2://"):]
        return CaptureSource(dev, uri, True, cv2.CAP_V4L2)
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme and scheme not in BUILTIN_SCHEMES:
        factory = _plugin(scheme)
        if factory is None:
            raise SourceError(f"{uri}: unknown source scheme '{scheme}://' (built in: "
                              f"{', '.join(s + '://' for s in BUILTIN_SCHEMES)}; plug-ins: "
                              f"{', '.join(s + '://' for s in _available_plugins()) or 'none'})")
        return factory(uri)
    if scheme in ("http", "https"):
        return CaptureSource(uri, uri, True, cv2.CAP_FFMPEG)
    if uri.startswith("csi://") or " ! " in uri or uri.startswith(("rtsp://", "rtsps://")):
        gst = has_gstreamer()
        if uri.startswith(("rtsp://", "rtsps://")):
            return CaptureSource(rtsp_pipeline(uri), uri, True, cv2.CAP_GSTREAMER) if gst else \
                CaptureSource(uri, uri, True, cv2.CAP_FFMPEG)
        if not gst:
            raise SourceError(f"{uri}: needs OpenCV with GStreamer, which this cv2 ({cv2.__version__}) lacks; on a "
                              "Jetson use JetPack's system OpenCV (see docs/jetson.md)")
        pipeline = csi_pipeline(int(uri[len("csi://"):] or 0)) if uri.startswith("csi://") else uri
        return CaptureSource(pipeline, uri, True, cv2.CAP_GSTREAMER)
    path = Path(uri)
    if (path / "metadata.yaml").is_file() or path.suffix.lower() in BAG_SUFFIXES and \
            (path.parent / "metadata.yaml").is_file():
        from unet_edge.runtime.rosbag import BagSource

        return BagSource(path if path.is_dir() else path.parent)
    if path.is_file() and (path.suffix.lower() in BAG_SUFFIXES or bag_storage(path)):
        return _bare_bag(path, uri)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_image(p))
        if not files:
            raise SourceError(f"{uri}: folder holds no images")
        return ImageSource(files, uri)
    if any(c in uri for c in "*?["):
        files = sorted(Path(p) for p in _glob.glob(uri) if is_image(p))
        if not files:
            raise SourceError(f"{uri}: glob matches no images")
        return ImageSource(files, uri)
    if not path.exists():
        raise SourceError(f"{uri}: no such file, folder, camera or stream")
    if is_image(path):
        return ImageSource([path], uri)
    return CaptureSource(str(path), uri, False, cv2.CAP_ANY)


def bag_storage(path: Path) -> str | None:
    """``.mcap`` or ``.db3`` where ``path``'s first bytes are a rosbag2 storage file's, else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    return next((kind for magic, kind in BAG_MAGIC.items() if head.startswith(magic)), None)


def _bare_bag(path: Path, uri: str) -> Source:
    """A bag's storage file without its folder's ``metadata.yaml``: rosbags reads an ``.mcap`` or ``.db3``
    alone (by its suffix), so one named so is read; one named otherwise is said for what it is."""
    kind = bag_storage(path)
    if kind is None:
        raise SourceError(f"{uri}: named {path.suffix} but not a ROS 2 bag's storage file (its first bytes are no "
                          "MCAP or SQLite header): give the bag folder with its metadata.yaml")
    if path.suffix.lower() != kind:
        raise SourceError(f"{uri}: an {kind[1:].upper()} file (a ROS 2 bag's storage), not a video; give the bag "
                          f"folder that holds it with its metadata.yaml, or name the file *{kind} to read it alone")
    from unet_edge.runtime.rosbag import BagSource

    return BagSource(path)


def _available_plugins() -> list[str]:
    from importlib.metadata import entry_points

    return sorted({*_SCHEMES, *(ep.name for ep in entry_points(group=SOURCE_GROUP))})
