"""ROS 2 bags in and out: a bag written with rosbags from a clip's frames goes through ``run``; the
output bag, read back with rosbags and with the mcap package, has one mask per input message with
its stamp and frame, masks equal to the runner's on the same frames, the class table and the
camera info; bad bags are one line."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import SourceError
from unet_edge.runtime.run import RunConfig, run_stream
from unet_edge.runtime.segmenter import Segmenter

pytest.importorskip("rosbags", reason="the ros extra (rosbags) reads and writes bags")
from rosbags.rosbag2 import Reader, StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from .clips import CLIP_FRAMES  # noqa: E402

STORE = get_typestore(Stores.ROS2_HUMBLE)
T = STORE.types


def _frames(clip):
    cap = cv2.VideoCapture(str(clip))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


def _header(i: int):
    return T["std_msgs/msg/Header"](T["builtin_interfaces/msg/Time"](1700000000 + i, 5000 * i), "cam_front")


def write_bag(path, frames, encoding="bgr8", compressed=False, storage=StoragePlugin.MCAP):
    with Writer(path, version=8, storage_plugin=storage) as w:
        kind = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        img = w.add_connection("/camera/image", kind, typestore=STORE)
        info = w.add_connection("/camera/camera_info", "sensor_msgs/msg/CameraInfo", typestore=STORE)
        for i, f in enumerate(frames):
            t = (1700000000 + i) * 1_000_000_000 + 5000 * i
            if compressed:
                msg = T[kind](_header(i), "png", np.frombuffer(cv2.imencode(".png", f)[1].tobytes(), np.uint8))
            else:
                data = {"bgr8": f, "rgb8": f[..., ::-1], "mono8": cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)}[encoding]
                data = np.ascontiguousarray(data)
                step = data.shape[1] * (1 if data.ndim == 2 else 3)
                msg = T[kind](_header(i), f.shape[0], f.shape[1], encoding, 0, step, data.reshape(-1))
            w.write(img, t, STORE.serialize_cdr(msg, kind))
            if i == 0:
                cam = T["sensor_msgs/msg/CameraInfo"](header=_header(0), height=f.shape[0], width=f.shape[1],
                                                      distortion_model="plumb_bob", d=np.zeros(5),
                                                      k=np.eye(3).ravel(), r=np.eye(3).ravel(),
                                                      p=np.zeros(12), binning_x=0, binning_y=0,
                                                      roi=T["sensor_msgs/msg/RegionOfInterest"](0, 0, 0, 0, False))
                w.write(info, t, STORE.serialize_cdr(cam, "sensor_msgs/msg/CameraInfo"))
    return path


def test_a_bag_in_gives_a_bag_out_with_every_mask_stamped_as_its_input(model, clip, tmp_path):
    frames = _frames(clip)
    bag = write_bag(tmp_path / "in", frames)
    out = tmp_path / "out"
    summary = run_stream(RunConfig(model, str(bag), save_bag=out), log=lambda _m: None)
    assert summary["bag"]["frames"] == CLIP_FRAMES and not (tmp_path / "out.partial").exists()
    assert sorted(p.name for p in out.iterdir()) == ["metadata.yaml", "out.mcap"]  # no "out.partial.mcap"
    masks, stamps, topics = [], [], {}
    with Reader(out) as r:
        topics = {c.topic: c.msgtype for c in r.connections}
        for conn, _t, raw in r.messages():
            msg = STORE.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == "/segmentation/mask":
                assert msg.encoding == "mono8" and msg.header.frame_id == "cam_front"
                masks.append(np.asarray(msg.data).reshape(msg.height, msg.width))
                stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec))
            elif conn.topic == "/segmentation/classes":
                table = json.loads(msg.data)["classes"]
    assert topics == {"/segmentation/mask": "sensor_msgs/msg/Image", "/segmentation/overlay": "sensor_msgs/msg/Image",
                      "/segmentation/classes": "std_msgs/msg/String",
                      "/segmentation/camera_info": "sensor_msgs/msg/CameraInfo"}
    assert stamps == [(1700000000 + i, 5000 * i) for i in range(CLIP_FRAMES)]
    with Segmenter(model) as seg:
        assert all(np.array_equal(m, seg(f)) for m, f in zip(masks, frames))
        assert [c["name"] for c in table] == list(seg.classes)
    from mcap.reader import make_reader

    with open(next(out.glob("*.mcap")), "rb") as fh:
        counts = {}
        for _schema, channel, _message in make_reader(fh).iter_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
    assert counts["/segmentation/mask"] == counts["/segmentation/overlay"] == CLIP_FRAMES


@pytest.mark.parametrize("encoding,compressed", [("rgb8", False), ("mono8", False), ("png", True)])
def test_other_encodings_and_sqlite_storage_read_as_the_same_frames(model, clip, tmp_path, encoding, compressed):
    from unet_edge.runtime.rosbag import BagSource

    frames = _frames(clip)[:3]
    bag = write_bag(tmp_path / "in", frames, encoding, compressed, StoragePlugin.SQLITE3)
    src = BagSource(bag)
    src.open()
    got = [src.read()[1] for _ in frames]
    src.close()
    want = [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) if encoding == "mono8" else f
            for f in frames]
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert src.stamps[2] == (1700000002, 10000, "cam_front")


def test_bad_bags_are_one_line(model, clip, tmp_path):
    from unet_edge.runtime.rosbag import BagSource

    with Writer(tmp_path / "noimg", version=8, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/chatter", "std_msgs/msg/String", typestore=STORE)
        w.write(conn, 1, STORE.serialize_cdr(T["std_msgs/msg/String"]("hi"), "std_msgs/msg/String"))
    with pytest.raises(SourceError, match="no image topic; it holds /chatter") as err:
        BagSource(tmp_path / "noimg").open()
    assert "\n" not in str(err.value)
    bag = write_bag(tmp_path / "cut", _frames(clip))
    storage = next(bag.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 3])
    with pytest.raises(SourceError) as err:
        run_stream(RunConfig(model, str(bag)), log=lambda _m: None)
    assert "\n" not in str(err.value) and str(bag) in str(err.value)
    with pytest.raises(Exception, match="--topic"):
        run_stream(RunConfig(model, str(clip), topic="/x"), log=lambda _m: None)
