"""A rosbag2's storage file given alone as ``--source``: rosbags reads a bare ``.mcap``, so it runs; the
same bytes under a video's name, or a ``.mcap`` that is none, are one line saying what the file is."""

from __future__ import annotations

import shutil

import pytest

from unet_edge.core.errors import SourceError
from unet_edge.runtime.sources import open_source

pytest.importorskip("rosbags", reason="the ros extra (rosbags) reads and writes bags")
from .test_rosbag import _frames, write_bag  # noqa: E402


def _read_all(src) -> int:
    src.open()
    try:
        n = 0
        while src.read()[0]:
            n += 1
        return n
    finally:
        src.close()


def test_a_bare_mcap_is_read_without_its_folder(clip, tmp_path):
    bag = write_bag(tmp_path / "bag", _frames(clip))
    bare = tmp_path / "alone.mcap"
    shutil.copy(next(bag.glob("*.mcap")), bare)
    assert _read_all(open_source(str(bare))) == _read_all(open_source(str(bag))) == len(_frames(clip))


def test_a_storage_file_under_another_name_says_what_it_is(clip, tmp_path):
    bag = write_bag(tmp_path / "bag", _frames(clip))
    renamed = tmp_path / "drive.mp4"
    shutil.copy(next(bag.glob("*.mcap")), renamed)
    with pytest.raises(SourceError, match="an MCAP file .*not a video; give the bag folder .*metadata.yaml"):
        open_source(str(renamed))
    fake = tmp_path / "fake.mcap"
    fake.write_bytes(b"\x00" * 64)
    with pytest.raises(SourceError, match="named .mcap but not a ROS 2 bag's storage file"):
        open_source(str(fake))
