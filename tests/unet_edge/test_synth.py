import cv2
import numpy as np
import pytest

from tests.runtime.clips import count_frames
from unet_edge.core.errors import ConfigError
from unet_edge.synth import drive, scene
from unet_edge.synth.writer import write_synth


def test_scene_is_deterministic_for_a_seed():
    a, b, c = scene(3, (72, 96)), scene(3, (72, 96)), scene(4, (72, 96))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_scenes_cover_the_street_classes_with_valid_labels():
    seen = np.zeros(11, bool)
    for seed in range(40):
        img, mask = scene(seed, (90, 120))
        assert img.shape == (90, 120, 3) and img.dtype == np.uint8
        assert mask.shape == (90, 120) and mask.max() <= 10
        seen[np.unique(mask)] = True
    assert seen.all(), f"classes never drawn: {np.flatnonzero(~seen)}"


def test_drive_moves_forward_through_one_street():
    frames = [m for _, m in drive(2, (72, 96), 12)]
    assert len(frames) == 12
    assert not np.array_equal(frames[0], frames[-1])
    # one street: the sky/road layout barely changes between consecutive frames
    assert (frames[5] == frames[6]).mean() > 0.8


def test_writer_produces_folder_layout_and_a_playable_clip(synth_dir):
    assert len(list((synth_dir / "images").glob("*.png"))) == 160
    assert len(list((synth_dir / "masks").glob("*.png"))) == 160
    assert (synth_dir / "classes.json").is_file()
    cap = cv2.VideoCapture(str(synth_dir / "clip.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 20
    assert not list(synth_dir.parent.glob(".*partial*"))


def test_writer_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        write_synth(tmp_path, frames=2, size=(32, 32), clip_frames=0)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_the_clip_follows_frames_unless_its_own_length_is_given(tmp_path):
    res = write_synth(tmp_path / "a", frames=5, size=(32, 48), workers=1)
    assert res.clip_frames == 5 and count_frames(res.clip) == 5
    res = write_synth(tmp_path / "b", frames=5, size=(32, 48), clip_frames=3, workers=1)
    assert res.clip_frames == 3 and count_frames(res.clip) == 3
    res = write_synth(tmp_path / "c", frames=5, size=(32, 48), clip_frames=0, workers=1)
    assert res.clip is None and not (tmp_path / "c" / "clip.mp4").exists()


@pytest.mark.parametrize("kw,message", [
    ({"frames": 0}, "--frames 0: give at least 1"),
    ({"clip_frames": -1}, "--clip-frames -1"),
    ({"fps": 0.0}, "--fps 0: give a frame rate above 0"),
    ({"fps": float("inf")}, "--fps inf"),
    ({"workers": 0}, "--workers 0"),
    ({"size": (8, 8)}, "--size 8x8"),
])
def test_every_option_is_checked_before_anything_is_written(tmp_path, kw, message):
    args = {"frames": 3, "size": (32, 48), "workers": 1, **kw}
    with pytest.raises(ConfigError, match=message):
        write_synth(tmp_path / "out", **args)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_synth_is_kept_unless_forced(tmp_path):
    (tmp_path / ".out.partial" / "images").mkdir(parents=True)
    with pytest.raises(ConfigError, match="interrupted synth"):
        write_synth(tmp_path / "out", frames=2, size=(32, 32), clip_frames=0, workers=1)
    assert (tmp_path / ".out.partial" / "images").is_dir() and not (tmp_path / "out").exists()
    write_synth(tmp_path / "out", frames=2, size=(32, 32), clip_frames=0, workers=1, force=True)
    assert len(list((tmp_path / "out" / "images").iterdir())) == 2 and not (tmp_path / ".out.partial").exists()
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ConfigError, match="a file, not a folder"):
        write_synth(tmp_path / "file", frames=2, size=(32, 32), workers=1)
