"""A dynamic export runs footage of another shape at the footage's aspect (about its export size's pixel
count); a fixed one, or a size given, is never changed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.cli_run import cli
from unet_edge.core.errors import ConfigError
from unet_edge.runtime.frame import aspect_size
from unet_edge.runtime.segmenter import Segmenter

from .clips import write_clip


@pytest.mark.parametrize("frame", [(270, 480), (1080, 1920), (720, 1280), (1024, 2048), (1200, 1920),
                                   (480, 480), (1920, 1080), (100, 900)])
def test_the_size_keeps_the_footages_aspect_and_the_models_pixel_count(frame):
    h, w = aspect_size((352, 480), frame, 32)
    assert h % 32 == 0 and w % 32 == 0
    aspect = frame[1] / frame[0]
    # the nearest multiples of 32 around the ideal: within one step of each side
    assert abs(math.log(w / h / aspect)) < math.log(1 + 32 / min(h, w)) + 1e-9
    assert abs(math.log(h * w / (352 * 480))) < 2 * math.log(1 + 32 / min(h, w))


@pytest.mark.parametrize("frame", [(352, 480), (360, 480), (720, 960), (1080, 1440)])
def test_footage_of_the_models_own_aspect_keeps_its_size(frame):
    assert aspect_size((352, 480), frame, 32) == (352, 480)


def test_sixteen_by_nine_through_the_shipped_sizes():
    assert aspect_size((352, 480), (1080, 1920), 32) == (320, 544)
    assert aspect_size((64, 96), (90, 160), 1) == (59, 105)


def test_a_dynamic_export_runs_each_frame_at_its_aspect_and_returns_the_frames_size(dynamic_model):
    with Segmenter(dynamic_model) as seg:
        assert seg.runner.sized_by_frames and seg.input_size == (64, 96)
        wide = np.full((90, 160, 3), 100, np.uint8)
        assert seg(wide).shape == (90, 160)
        h, w = seg.runner.input_size
        assert abs(w / h - 16 / 9) < 0.02 and abs(h * w / (64 * 96) - 1) < 0.05
        assert seg(np.full((64, 96, 3), 100, np.uint8)).shape == (64, 96)
        assert seg.runner.input_size == (64, 96)


def test_a_fixed_model_or_a_given_size_is_kept(model, dynamic_model):
    with Segmenter(model) as seg:
        assert not seg.runner.sized_by_frames
        assert seg(np.zeros((90, 160, 3), np.uint8)).shape == (90, 160)
        assert seg.runner.input_size == (64, 96)  # stretched, as before
    with Segmenter(dynamic_model, input_size=(48, 48)) as seg:
        seg(np.zeros((90, 160, 3), np.uint8))
        assert seg.runner.input_size == (48, 48)
    with pytest.raises(ConfigError, match="fixed at 64x96"):
        Segmenter(model, input_size=(48, 48))


def test_the_pipeline_sizes_a_dynamic_export_from_the_first_frame(dynamic_model, tmp_path):
    clip = write_clip(tmp_path / "wide.mp4", frames=4, size=(90, 160))
    with Segmenter(dynamic_model) as seg:
        frames = list(seg.stream(str(clip)))
    assert len(frames) == 4
    assert {f.mask.shape for f in frames} == {aspect_size((64, 96), (90, 160))}


def test_run_says_which_size_the_footage_chose(dynamic_model, tmp_path):
    clip = write_clip(tmp_path / "wide.mp4", frames=3, size=(90, 160))
    code, out, _ = cli("run", "--model", str(dynamic_model), "--source", str(clip), "--max-frames", "3")
    assert code == 0, out
    assert "input sized to the footage's aspect at about 64x96's pixels" in out
    assert "input 59x105: 160x90 footage at the model's 64x96 pixel count" in out


def test_run_with_a_size_on_a_fixed_model_is_one_line(model, tmp_path):
    clip = write_clip(tmp_path / "wide.mp4", frames=2, size=(90, 160))
    code, _, err = cli("run", "--model", str(model), "--source", str(clip), "--size", "48x48")
    assert code != 0 and "fixed at 64x96" in err


def test_openvino_compiles_again_for_the_footages_size(dynamic_model):
    pytest.importorskip("openvino", reason="OpenVINO is the [openvino] extra")
    with Segmenter(dynamic_model, provider="openvino", precision="f32") as seg:
        assert seg(np.full((90, 160, 3), 100, np.uint8)).shape == (90, 160)
        assert seg.runner.input_size == aspect_size((64, 96), (90, 160))
        assert seg(np.full((64, 96, 3), 100, np.uint8)).shape == (64, 96)
