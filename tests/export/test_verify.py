"""The precision gate's helpers."""

from __future__ import annotations

import numpy as np

from unet_edge.export.verify import NEAR_TIE, mask_and_near_ties, pixel_agreement


def test_near_ties_are_pixels_whose_top_two_logits_nearly_meet():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (5, 20, 30)).astype(np.float32)
    spread = logits.std()
    # make exactly the first row's pixels near-ties: class 3 a hair above class 1, both on top
    logits[1, 0, :] = 10.0
    logits[3, 0, :] = 10.0 + 0.2 * NEAR_TIE * spread
    logits[:, 1:, :] += np.where(np.arange(5)[:, None, None] == 2, 20.0, 0.0)  # the rest: class 2 by far
    mask, share = mask_and_near_ties(logits)
    assert mask.dtype == np.uint8 and mask.shape == (20, 30)
    assert (mask[0] == 3).all() and (mask[1:] == 2).all()
    assert share == 30 / 600  # one row of 20, nothing else
    assert pixel_agreement([mask], [mask]) == 1.0
