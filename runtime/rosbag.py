"""ROS 2 bags in and out, with ``rosbags`` (pure Python: no ROS installation).

In: ``--source BAG`` (a rosbag2 folder, ``metadata.yaml`` beside its ``.mcap`` or ``.db3`` storage)
reads ``sensor_msgs/msg/Image`` or ``CompressedImage`` from its only image topic (or ``--topic``);
each frame keeps its message's header stamp and ``frame_id``. Images are decoded here with OpenCV,
not by ``rosbags-image``, which would pull a pip OpenCV that shadows a Jetson's system one.

Out: ``--save-bag DIR`` writes a rosbag2 folder (version 8, which ROS 2 Humble reads; MCAP storage,
which ``ros2 bag``, ``rosbags`` and Foxglove read): ``/segmentation/mask`` (``mono8`` class ids at
the source's size), ``/segmentation/overlay`` (``bgr8``), both stamped and framed as their input,
the class table as JSON on ``/segmentation/classes``, and the input's ``CameraInfo`` passed
through. Several sources write ``/segmentation/<stream>/...``. Written as ``DIR.partial/DIR`` (its
storage file named ``DIR.mcap`` from the start) and moved to ``DIR`` when finalized (Ctrl-C and
SIGTERM included), so ``DIR`` is always a whole bag; the remains of a killed run are never deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from unet_edge.core.errors import ConfigError, SinkError, SourceError
from unet_edge.core.lazy import require
from unet_edge.runtime.frame import Frame, at_size, wall_time
from unet_edge.runtime.source_base import Source

IMAGE, COMPRESSED, INFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo"
DECODE = {"bgr8": None, "rgb8": cv2.COLOR_RGB2BGR, "mono8": cv2.COLOR_GRAY2BGR, "bgra8": cv2.COLOR_BGRA2BGR,
          "rgba8": cv2.COLOR_RGBA2BGR, "yuv422": cv2.COLOR_YUV2BGR_UYVY, "uyvy": cv2.COLOR_YUV2BGR_UYVY,
          "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUYV, "yuyv": cv2.COLOR_YUV2BGR_YUYV}
CHANNELS = {"bgr8": 3, "rgb8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4}  # the YUV 4:2:2 ones: 2 bytes a pixel


def partial_of(folder: Path) -> Path:
    """The folder a bag is written in until it is finalized."""
    return folder.with_name(folder.name + ".partial")


def check_new_bag(folder: Path) -> None:
    """``--save-bag``'s destination (run's plan, and the writer itself): a bag is never overwritten, and
    an interrupted one's remains are never deleted."""
    if folder.exists():
        raise ConfigError(f"--save-bag {folder}: already exists (a bag is never overwritten); choose another")
    if (stale := partial_of(folder)).exists():
        raise ConfigError(f"--save-bag {folder}: {stale} holds an interrupted recording of this name; move it "
                          "away first (it is never deleted)")


def is_bag(path: Path) -> bool:
    return path.is_dir() and (path / "metadata.yaml").is_file()


def _typestore():
    typesys = require("rosbags.typesys")  # a missing rosbags is one line naming the 'ros' extra
    return typesys.get_typestore(typesys.Stores.ROS2_HUMBLE)


def decode(msg, msgtype: str) -> np.ndarray:
    """A ROS image message as BGR uint8; an encoding it cannot read is one SourceError line."""
    if msgtype == COMPRESSED:
        img = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"a CompressedImage in '{msg.format}' that OpenCV cannot decode")
        return img
    enc = msg.encoding.lower()
    if enc not in DECODE:
        raise SourceError(f"image encoding '{msg.encoding}' is not supported: use one of {', '.join(DECODE)}")
    per = CHANNELS.get(enc, 2)
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, : msg.width * per]
    img = rows.reshape(msg.height, msg.width, per) if per > 1 else rows
    return img.copy() if DECODE[enc] is None else cv2.cvtColor(img, DECODE[enc])


class BagSource(Source):
    """The image messages of one topic of a rosbag2, in order, as fast as they are read."""

    live = False

    def __init__(self, path: Path, topic: str | None = None) -> None:
        self.path, self.name, self.topic = Path(path), str(path), topic
        self.stamps: list[tuple[int, int, str]] = []  # (sec, nanosec, frame_id) by frame index
        self.reader = None

    def open(self) -> None:
        self.store = _typestore()
        Reader = require("rosbags.rosbag2").Reader
        try:
            reader = Reader(self.path)
            reader.open()
            self.reader = reader
        except Exception as exc:  # rosbags' errors for truncated or foreign files vary
            raise SourceError(f"{self.path}: not a readable rosbag2 ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160] if str(exc) else 'no detail'})") from exc
        images = [c for c in self.reader.connections if c.msgtype in (IMAGE, COMPRESSED)]
        if self.topic is not None:
            images = [c for c in images if c.topic == self.topic]
        topics = sorted({c.topic for c in images})
        if len(topics) != 1:
            found = sorted(f"{c.topic} ({c.msgtype})" for c in self.reader.connections)
            raise SourceError(f"{self.path}: " + ("no image topic" if not topics and self.topic is None else
                              f"no image topic '{self.topic}'" if not topics else
                              f"{len(topics)} image topics ({', '.join(topics)}): pick one with --topic")
                              + f"; it holds {', '.join(found) or 'nothing'}")
        count = sum(c.msgcount for c in images)
        seconds = self.reader.duration / 1e9
        self.fps = (count - 1) / seconds if count > 1 and seconds > 0 else 30.0
        self.messages = self.reader.messages(connections=images)

    def read(self) -> tuple[bool, np.ndarray | None]:
        try:
            conn, _t, raw = next(self.messages)
            msg = self.store.deserialize_cdr(raw, conn.msgtype)
        except StopIteration:
            return False, None
        except Exception as exc:
            raise SourceError(f"{self.path}: damaged message ({type(exc).__name__}); the bag is truncated?") from exc
        self.stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id))
        return True, decode(msg, conn.msgtype)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class BagWriter:
    """Masks and overlays of every frame it is given (a pipeline observer), as a rosbag2 folder."""

    def __init__(self, folder: str | Path, classes, palette, sources) -> None:
        self.store = _typestore()
        rosbag2 = require("rosbags.rosbag2")
        StoragePlugin, Writer = rosbag2.StoragePlugin, rosbag2.Writer
        self.folder, self.sources = Path(folder), list(sources)
        self.partial = partial_of(self.folder)
        check_new_bag(self.folder)
        try:
            self.partial.mkdir(parents=True)
            self.writer = Writer(self.partial / self.folder.name, version=8, storage_plugin=StoragePlugin.MCAP)
            self.writer.open()
        except Exception as exc:
            shutil.rmtree(self.partial, ignore_errors=True)  # ours, and empty: nothing was recorded yet
            raise SinkError(f"--save-bag {folder}: cannot write there ({exc})") from exc
        many = len(self.sources) > 1
        self.conns = {}
        for i in range(len(self.sources)):
            base = f"/segmentation/{i}" if many else "/segmentation"
            self.conns[i] = {k: self.writer.add_connection(f"{base}/{k}", IMAGE, typestore=self.store)
                             for k in ("mask", "overlay")}
        classes_conn = self.writer.add_connection("/segmentation/classes", "std_msgs/msg/String", typestore=self.store)
        table = {"classes": [{"id": i, "name": n, "color": list(c)} for i, (n, c) in enumerate(zip(classes, palette))]}
        String = self.store.types["std_msgs/msg/String"]
        self.writer.write(classes_conn, time.time_ns(), self.store.serialize_cdr(String(json.dumps(table)),
                                                                                 "std_msgs/msg/String"))
        self.written = 0

    def observe(self, frame: Frame, latency_ms: float) -> None:
        src = self.sources[frame.stream]
        stamps = getattr(src, "stamps", None)
        if stamps is not None and frame.index < len(stamps):
            sec, nanosec, frame_id = stamps[frame.index]
        else:  # the capture time, for a source that is not a bag
            t = wall_time(frame.t_capture)
            sec, nanosec, frame_id = int(t), int((t % 1) * 1e9), "camera"
        h, w = frame.image.shape[:2]
        mask = at_size(frame.mask, h, w)
        view = frame.view if frame.view is not None and frame.view.shape[:2] == (h, w) else None
        t_ns = sec * 1_000_000_000 + nanosec
        for kind, img, enc in (("mask", mask, "mono8"), ("overlay", view, "bgr8")):
            if img is None:
                continue
            self.writer.write(self.conns[frame.stream][kind], t_ns, self._image(img, enc, sec, nanosec, frame_id))
        self.written += 1

    def _image(self, img: np.ndarray, enc: str, sec: int, nanosec: int, frame_id: str):
        t = self.store.types
        img = np.ascontiguousarray(img)
        header = t["std_msgs/msg/Header"](t["builtin_interfaces/msg/Time"](sec, nanosec), frame_id)
        step = img.shape[1] * (1 if img.ndim == 2 else img.shape[2])
        msg = t[IMAGE](header, img.shape[0], img.shape[1], enc, 0, step, img.reshape(-1))
        return self.store.serialize_cdr(msg, IMAGE)

    def summary(self) -> tuple[str, dict, str]:
        return "bag", {"folder": str(self.folder), "frames": self.written}, \
            f"saved a ROS 2 bag of {self.written} frames in {self.folder}"

    def close(self) -> None:
        """Pass the input bags' CameraInfo through, finalize, and move the bag into place."""
        try:
            for i, src in enumerate(self.sources):
                if isinstance(src, BagSource):
                    self._camera_info(src, i)
            self.writer.close()
            os.replace(self.partial / self.folder.name, self.folder)
            self.partial.rmdir()
        except OSError as exc:
            raise SinkError(f"--save-bag {self.folder}: cannot finalize ({exc.strerror or exc}); the bag so far is "
                            f"in {self.partial}") from exc

    def _camera_info(self, src: BagSource, stream: int) -> None:
        with require("rosbags.rosbag2").Reader(src.path) as reader:
            infos = [c for c in reader.connections if c.msgtype == INFO]
            if not infos:
                return
            base = f"/segmentation/{stream}" if len(self.sources) > 1 else "/segmentation"
            conn = self.writer.add_connection(f"{base}/camera_info", INFO, typestore=self.store)
            for _c, t, raw in reader.messages(connections=infos):
                self.writer.write(conn, t, raw)
