"""What a row of ``rows.md`` lays out before its command runs, named in its ``setup`` column; and the
ports the rows name as ``{free}`` and ``{busy}``. Every file is written under the row's folder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FREE, BUSY = _free_port(), _free_port()  # chosen when the rows are read; BUSY is held by the rows that need it
_held: list[socket.socket] = []  # open for the whole session: the command runs after its row's setup returns


def hold_busy(_tmp: Path) -> None:
    """Another program's server on BUSY, every interface (so 127.0.0.1:BUSY and 0.0.0.0:BUSY are taken)."""
    if _held:
        return
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", BUSY))
    sock.listen()
    _held.append(sock)


def without_gi(_tmp: Path) -> None:
    """Where this Python has PyGObject the output would start: the row is for environments without it."""
    if importlib.util.find_spec("gi") is not None:
        pytest.skip("this Python has PyGObject")


# run and eval: crash remains, earlier bags, links
def stale_bag(tmp: Path) -> None:
    (tmp / "bag.partial" / "bag").mkdir(parents=True)
    (tmp / "bag.partial" / "bag" / "bag.mcap").write_bytes(b"\x89MCAP0\r\n only copy of a drive")


def old_bag(tmp: Path) -> None:
    (tmp / "bag").mkdir()
    (tmp / "bag" / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")


def stale_mp4(tmp: Path) -> None:
    (tmp / ".out.partial.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 an interrupted recording")


def linked_frames(tmp: Path) -> None:
    (tmp / "link").symlink_to(tmp / "frames", target_is_directory=True)


# files that are not what their name says
def mcap_as_mp4(tmp: Path) -> None:
    (tmp / "drive.mp4").write_bytes(b"\x89MCAP0\r\n" + bytes(200))


def fake_mcap(tmp: Path) -> None:
    (tmp / "drive.mcap").write_bytes(bytes(200))


def corrupt_onnx(tmp: Path) -> None:
    (tmp / "corrupt.onnx").write_bytes(bytes(range(256)) * 8)


def keras_h5(tmp: Path) -> None:
    (tmp / "seg.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))


def stale_synth(tmp: Path) -> None:
    (tmp / ".out.partial" / "images").mkdir(parents=True)


# build
def engine(tmp: Path) -> None:
    (tmp / "e.engine").write_bytes(b"an engine built earlier")


def empty(tmp: Path) -> None:
    (tmp / "empty").mkdir()


# label
def a_clip(tmp: Path, name: str = "clip.mp4") -> Path:
    from tests.runtime.clips import write_clip

    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    return write_clip(tmp / name, frames=4)


def two_folders_one_name(tmp: Path) -> None:
    a_clip(tmp, "a/drive.mp4")
    a_clip(tmp, "b/drive.mp4")


def empty_folder(tmp: Path) -> None:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "notes.txt").write_text("no video here\n")


def list_of_missing(tmp: Path) -> None:
    a_clip(tmp)
    (tmp / "drives.txt").write_text("# the fleet's drives\nclip.mp4\nnope.mp4\n")


def out_is_a_file(tmp: Path) -> None:
    (tmp / "out.bin").write_bytes(b"not a folder")


def out_of_something_else(tmp: Path) -> None:
    (tmp / "out").mkdir()
    (tmp / "out" / "thesis.tex").write_text("\\documentclass{article}\n")


def _label_json(tmp: Path, every: int, sha: str | None = None) -> None:
    digest = sha or hashlib.sha256((tmp / "model" / "tiny.onnx").read_bytes()).hexdigest()
    (tmp / "out").mkdir()
    (tmp / "out" / "label.json").write_text(json.dumps({"tool": "unet-edge label", "model": "tiny.onnx",
                                                        "model_sha256": digest, "every": every, "size": None}))


def out_of_other_model(tmp: Path) -> None:
    _label_json(tmp, 1, "0" * 64)


def out_of_other_every(tmp: Path) -> None:
    _label_json(tmp, 3)
