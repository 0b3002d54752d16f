"""The frames the FP16 and INT8 searches choose on: never the gate's."""

from __future__ import annotations

import numpy as np
import pytest

from unet_edge.data import open_dataset
from unet_edge.export.exporter import ExportOptions
from unet_edge.export.verify import search_set, verification_set

SIZE = (96, 128)


def _sets(synth_dir, verify_frames: int):
    opts = ExportOptions(calib=f"folder:{synth_dir}", verify_frames=verify_frames)
    classes = list(open_dataset("folder", str(synth_dir), "val").info.names)
    gate = verification_set(opts, SIZE, classes, lambda _m: None)
    return gate, search_set(opts, SIZE, classes, gate)


def _shared(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    return sum(any(np.array_equal(x, y) for y in b) for x in a)


@pytest.mark.parametrize("verify_frames", [6, 10_000])
def test_the_searches_never_choose_on_the_gates_frames(synth_dir, verify_frames):
    """Beside the gate's val frames where the split has more; its train frames where the gate took them all."""
    gate, search = _sets(synth_dir, verify_frames)
    assert search.frames and search.labels is not None and len(search.labels) == len(search.frames)
    assert _shared(search.frames, gate.frames) == 0
    assert len(search.frames) <= len(gate.frames)
