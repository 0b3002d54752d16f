"""Real-data checks on CamVid; they skip when ../shared/data/camvid is absent."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import CAMVID
from unet_edge.data import open_dataset

pytestmark = [pytest.mark.camvid,
              pytest.mark.skipif(not CAMVID.is_dir(), reason=f"CamVid not found at {CAMVID}")]


def test_camvid_splits_read_and_validate():
    train, val = open_dataset("camvid", CAMVID, "train"), open_dataset("camvid", CAMVID, "val")
    assert (len(train), len(val)) == (367, 101)
    img, mask = val[0]
    assert img.shape == (360, 480, 3) and mask.shape == (360, 480)
    pixels, _ = val.class_counts()  # reads and checks every mask
    assert (pixels > 0).all()  # every class occurs in val
    assert np.argmax(pixels) in (1, 3)  # building or road dominate a street scene
