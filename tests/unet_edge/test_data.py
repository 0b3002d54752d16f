"""Each dataset layout on generated fixtures, and every bad-data error naming its file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import DataError
from unet_edge.data import CAMVID, open_dataset
from unet_edge.data.base import median_frequency_weights
from unet_edge.data.transforms import EvalTransform, TrainTransform


def _img(rng, h=24, w=32):
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def make_camvid(root: Path, n=4, rng=None) -> Path:
    rng = rng or np.random.default_rng(0)
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(n):
            cv2.imwrite(str(root / split / f"f{i}.png"), _img(rng))
            cv2.imwrite(str(root / f"{split}annot" / f"f{i}.png"), rng.integers(0, 12, (24, 32), dtype=np.uint8))
    return root


def make_carla(root: Path, classes: int, n=6, mask_dir="CameraSeg") -> Path:
    rng = np.random.default_rng(1)
    (root / "CameraRGB").mkdir(parents=True)
    (root / mask_dir).mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "CameraRGB" / f"{i:03d}.png"), _img(rng))
        seg = np.zeros((24, 32, 3), np.uint8)
        seg[..., 2] = rng.integers(0, classes, (24, 32))  # red channel in RGB = index 2 in BGR
        seg[..., 1] = 200  # other channels carry noise in the real dumps
        cv2.imwrite(str(root / mask_dir / f"{i:03d}.png"), seg)
    return root


def test_camvid_layout_reads_rgb_images_and_id_masks(tmp_path):
    root = make_camvid(tmp_path / "camvid")
    ds = open_dataset("camvid", root, "train")
    img, mask = ds[0]
    assert img.shape == (24, 32, 3) and img.dtype == np.uint8
    bgr = cv2.imread(str(root / "train" / "f0.png"))
    assert np.array_equal(img, bgr[..., ::-1])
    assert mask.shape == (24, 32) and mask.max() <= 11
    assert ds.info == CAMVID and ds.info.ignore_index == 11
    assert len(open_dataset("camvid", root, "all")) == 8


@pytest.mark.parametrize("classes,expected", [(13, 13), (23, 23)])
def test_carla_layout_reads_the_red_channel_and_counts_classes(tmp_path, classes, expected):
    root = make_carla(tmp_path / "carla", classes)
    ds = open_dataset("carla", root, "all")
    assert ds.info.num_classes == expected
    _, mask = ds[0]
    assert mask.max() < classes and mask.dtype == np.uint8
    assert ds.info.names[7] == "Road"


def test_carla_layout_accepts_camera_mask_and_a_class_flag(tmp_path):
    root = make_carla(tmp_path / "carla", 13, mask_dir="CameraMask")
    assert open_dataset("carla", root, "all", num_classes=23).info.num_classes == 23


def test_folder_layout_splits_deterministically(synth_dir):
    train = open_dataset("folder", synth_dir, "train")
    val = open_dataset("folder", synth_dir, "val")
    assert len(train) + len(val) == 160 and len(val) > 0
    assert not {p[0] for p in train.pairs} & {p[0] for p in val.pairs}
    assert [p[0] for p in open_dataset("folder", synth_dir, "val").pairs] == [p[0] for p in val.pairs]
    assert train.info.names == CAMVID.names


def test_missing_mask_names_the_image(tmp_path):
    root = make_camvid(tmp_path / "c")
    (root / "trainannot" / "f2.png").unlink()
    with pytest.raises(DataError, match=r"f2\.png: no mask"):
        open_dataset("camvid", root, "train")


def test_orphan_mask_names_the_mask(tmp_path):
    root = make_camvid(tmp_path / "c")
    cv2.imwrite(str(root / "trainannot" / "extra.png"), np.zeros((24, 32), np.uint8))
    with pytest.raises(DataError, match=r"extra\.png: mask has no image"):
        open_dataset("camvid", root, "train")


def test_size_mismatch_names_the_mask(tmp_path):
    root = make_camvid(tmp_path / "c")
    cv2.imwrite(str(root / "trainannot" / "f1.png"), np.zeros((20, 32), np.uint8))
    ds = open_dataset("camvid", root, "train")
    with pytest.raises(DataError, match=r"f1\.png: mask is 32x20 but image f1\.png is 32x24"):
        ds[1]


def test_label_out_of_range_names_the_file_and_values(tmp_path):
    root = make_camvid(tmp_path / "c")
    bad = np.zeros((24, 32), np.uint8)
    bad[0, 0], bad[0, 1] = 40, 11  # 11 is void (fine), 40 is not a class
    cv2.imwrite(str(root / "trainannot" / "f3.png"), bad)
    ds = open_dataset("camvid", root, "train")
    with pytest.raises(DataError, match=r"f3\.png: label\(s\) \[40\] outside the 11 classes"):
        ds[3]
    with pytest.raises(DataError, match="f3.png"):
        ds.class_counts()  # the up-front scan catches it before training


def test_colour_mask_and_corrupt_image_are_rejected(tmp_path):
    root = make_camvid(tmp_path / "c")
    cv2.imwrite(str(root / "trainannot" / "f0.png"), _img(np.random.default_rng(3)))
    (root / "train" / "f1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = open_dataset("camvid", root, "train")
    with pytest.raises(DataError, match="f0.png: mask is a colour image"):
        ds[0]
    with pytest.raises(DataError, match="f1.png: cannot read image"):
        ds[1]


def test_folder_needs_a_valid_classes_json(tmp_path, synth_dir):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="classes.json: class file not found"):
        open_dataset("folder", tmp_path, "train")
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["a", "b"], "palette": [[0, 0, 0]]}))
    with pytest.raises(DataError, match="2 class names but 1 palette"):
        open_dataset("folder", tmp_path, "train")


def test_unknown_layout_split_and_missing_root(tmp_path):
    with pytest.raises(DataError, match="unknown dataset layout"):
        open_dataset("coco", tmp_path)
    with pytest.raises(DataError, match="unknown split"):
        open_dataset("camvid", tmp_path, "dev")
    with pytest.raises(DataError, match="dataset folder not found"):
        open_dataset("camvid", tmp_path / "nope")


def test_median_frequency_weights_favour_rare_classes():
    pixels = np.array([900, 100, 0])
    present = np.array([1000, 1000, 0])
    w = median_frequency_weights(pixels, present)
    assert w[1] > 1 > w[0] and w[2] == 0


def test_train_transform_is_deterministic_and_keeps_labels_aligned():
    rng = np.random.default_rng(0)
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, 40:] = 255
    mask = np.zeros((60, 80), np.uint8)
    mask[:, 40:] = 1
    t = TrainTransform((32, 48), ignore_index=255, scale=(0.5, 1.5), jitter=0.0)
    a = t(image, mask, np.random.default_rng(5))
    b = t(image, mask, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    for _ in range(20):
        img, m = t(image, mask, rng)
        assert img.shape == (32, 48, 3) and m.shape == (32, 48)
        # clearly white pixels are class 1, clearly black ones class 0, wherever the crop and
        # flip put them (bilinear resizing blends the one boundary column, which is skipped)
        v = img[..., 0].astype(int)
        assert np.all(m[v > 230] == 1) and np.all(m[(v < 25) & (m != 255)] == 0)
        assert (v > 230).sum() + (v < 25).sum() > 0.8 * v.size


def test_rare_class_crops_hold_a_rare_pixel_and_are_off_by_default():
    mask = np.zeros((120, 160), np.uint8)
    mask[100:110, 150:152] = 3  # a small "pole" in a corner that most uniform crops miss
    image = np.zeros((120, 160, 3), np.uint8)

    def hits(t: TrainTransform) -> int:
        return sum(int((t(image, mask, np.random.default_rng(i))[1] == 3).any()) for i in range(200))

    uniform = TrainTransform((40, 40), ignore_index=255, scale=(1.0, 1.0), hflip=False, jitter=0.0)
    always = TrainTransform((40, 40), ignore_index=255, scale=(1.0, 1.0), hflip=False, jitter=0.0,
                            rare=(3, 4), rare_p=1.0)  # class 4 is absent: only 3 can be chosen
    assert hits(always) == 200 and hits(uniform) < 60
    # p = 0 draws nothing extra: the same crops as a transform without rare classes
    off = TrainTransform((40, 40), ignore_index=255, scale=(1.0, 1.5), jitter=0.0, rare=(3,), rare_p=0.0)
    plain = TrainTransform((40, 40), ignore_index=255, scale=(1.0, 1.5), jitter=0.0)
    for i in range(5):
        a, b = off(image, mask, np.random.default_rng(i)), plain(image, mask, np.random.default_rng(i))
        assert np.array_equal(a[1], b[1])
    empty = np.zeros_like(mask)  # no rare pixel in the frame: a uniform crop, no error
    assert always(image, empty, np.random.default_rng(0))[1].shape == (40, 40)


def test_color_jitter_changes_colours_but_not_shape():
    t = TrainTransform((32, 32), ignore_index=255, jitter=0.4)
    image = np.full((32, 32, 3), 120, np.uint8)
    out, _ = t(image, np.zeros((32, 32), np.uint8), np.random.default_rng(2))
    assert out.shape == image.shape and out.dtype == np.uint8


def test_eval_transform_resizes_mask_with_nearest():
    mask = np.array([[0, 3], [5, 7]], np.uint8).repeat(10, 0).repeat(10, 1)
    _, m = EvalTransform((7, 9))(np.zeros((20, 20, 3), np.uint8), mask)
    assert m.shape == (7, 9) and set(np.unique(m)) <= {0, 3, 5, 7}


def test_holdout_moves_a_sequence_from_train_to_val(synth_dir):
    full = open_dataset("folder", synth_dir, "train")
    prefix = full.pairs[0][0].name[:5]  # 00000x: ten frames
    train = open_dataset("folder", synth_dir, "train", holdout=prefix)
    held = open_dataset("folder", synth_dir, "val", holdout=prefix)
    assert held.pairs and all(p[0].name.startswith(prefix) for p in held.pairs)
    assert not any(p[0].name.startswith(prefix) for p in train.pairs)
    assert len(train) + len(held) == len(full)
    with pytest.raises(DataError, match="matches none"):
        open_dataset("folder", synth_dir, "train", holdout="no-such-prefix")
    with pytest.raises(DataError, match="cannot be combined"):
        open_dataset("folder", synth_dir, "test", holdout=prefix)
