"""``run --save-masks``: class maps read back (with Pillow, as a user would) equal the runner's own
class ids for every frame, the index has one line per frame, --keep bounds the folder, a failing
disk is one SinkError with what came before kept, and a live source drops rather than waits."""

from __future__ import annotations

import errno
import json
import time

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import SinkError
from unet_edge.runtime import masks as masks_mod
from unet_edge.runtime.run import RunConfig, run_stream
from unet_edge.runtime.segmenter import Segmenter

from .clips import CLIP_FRAMES

Image = pytest.importorskip("PIL.Image", reason="Pillow reads the PNGs back (the dev extra)")


def _lines(folder):
    return [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]


def test_every_frame_of_a_clip_reads_back_as_the_runners_class_ids(model, clip, tmp_path):
    out = tmp_path / "masks"
    summary = run_stream(RunConfig(model, str(clip), save_masks=out), log=lambda _m: None)
    assert summary["masks"] == {"folder": str(out), "written": CLIP_FRAMES, "dropped": 0}
    cap = cv2.VideoCapture(str(clip))
    with Segmenter(model) as seg:
        for i in range(CLIP_FRAMES):
            ok, frame = cap.read()
            assert ok
            png = Image.open(out / f"0_{i:08d}.png")
            assert png.mode == "P" and png.size == (frame.shape[1], frame.shape[0])
            assert np.array_equal(np.array(png), seg(frame)), i
        assert png.getpalette()[:3 * len(seg.palette)] == [c for rgb in seg.palette for c in rgb]
    cap.release()
    lines = _lines(out)
    assert [(x["stream"], x["index"]) for x in lines] == [(0, i) for i in range(CLIP_FRAMES)]
    for x in lines:
        assert abs(sum(x["shares"].values()) - 1) < 1e-4 and x["latency_ms"] > 0 and x["dropped"] == 0
        assert abs(x["capture_time"] - time.time()) < 600
        assert x["source_ms"] == pytest.approx(1e3 * x["index"] / 30, abs=1e-3)
    assert not list(out.glob(".*.tmp"))


def test_an_image_folder_keeps_each_images_name_and_keep_bounds_the_folder(model, images, tmp_path):
    out = tmp_path / "masks"
    run_stream(RunConfig(model, str(images), save_masks=out), log=lambda _m: None)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in images.glob("*.png"))
    kept = tmp_path / "kept"
    run_stream(RunConfig(model, str(images), save_masks=kept, keep=4), log=lambda _m: None)
    files = {p.name for p in kept.glob("*.png")}
    assert 4 <= len(files) <= 5 and "000011.png" in files  # the newest, within the pruning step
    assert {x["file"] for x in _lines(kept)} == files  # the index names only files that exist


def test_a_failing_disk_is_one_sink_error_and_the_frames_before_are_kept(model, clip, tmp_path, monkeypatch):
    write = masks_mod._atomic_write
    calls = []

    def full_after_three(path, data):
        calls.append(path)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(path, data)

    monkeypatch.setattr(masks_mod, "_atomic_write", full_after_three)
    out = tmp_path / "masks"
    with pytest.raises(SinkError, match="No space left on device") as err:
        run_stream(RunConfig(model, str(clip), save_masks=out), log=lambda _m: None)
    assert "\n" not in str(err.value) and "3 frames before are kept" in str(err.value)
    assert len(list(out.glob("*.png"))) == 3 and len(_lines(out)) == 3


def test_a_live_source_drops_what_a_slow_disk_cannot_take(model, tmp_path, monkeypatch):
    write = masks_mod._atomic_write
    # 2 writes a second: the synthetic camera outruns it even on a loaded 2-core box (at 0.2 s it did not)
    monkeypatch.setattr(masks_mod, "_atomic_write", lambda p, d: (time.sleep(0.5), write(p, d)))
    out = tmp_path / "masks"
    summary = run_stream(RunConfig(model, "synth://?size=64x96", save_masks=out, max_frames=60),
                         log=lambda _m: None)
    written, dropped = summary["masks"]["written"], summary["masks"]["dropped"]
    assert dropped > 0 and written + dropped == 60 and len(_lines(out)) == written
    assert _lines(out)[-1]["dropped"] <= dropped


def test_a_folder_that_cannot_be_written_is_one_line(model, clip, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkError, match="--save-masks"):
        run_stream(RunConfig(model, str(clip), save_masks=blocker / "masks"), log=lambda _m: None)
