"""A dynamic export runs footage of another shape at the footage's aspect (about its export size's pixel
count); a fixed one, or a size given, is never changed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.cli_run import cli
from unet_edge.core.errors import ConfigError
from unet_edge.runtime.frame import aspect_size, within
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
        h, w = seg.runner.size_for(wide.shape[:2])
        assert abs(w / h - 16 / 9) < 0.02 and abs(h * w / (64 * 96) - 1) < 0.05
        assert seg(np.full((64, 96, 3), 100, np.uint8)).shape == (64, 96)
        assert seg.runner.input_size == seg.input_size == (64, 96)  # the export size: never changed


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


def test_the_pipeline_runs_each_stream_at_its_own_aspect(dynamic_model, tmp_path):
    wide = write_clip(tmp_path / "wide.mp4", frames=4, size=(90, 160))
    square = write_clip(tmp_path / "square.mp4", frames=4, size=(96, 96))
    with Segmenter(dynamic_model) as seg:
        frames = list(seg.stream_many([str(wide), str(square)]))
    assert len(frames) == 8
    assert {f.mask.shape for f in frames if f.stream == 0} == {aspect_size((64, 96), (90, 160))}
    assert {f.mask.shape for f in frames if f.stream == 1} == {aspect_size((64, 96), (96, 96))}


def test_a_shape_profile_bounds_the_size():
    assert within((320, 544), ((64, 64), (1088, 1920)), 32) == (320, 544)
    assert within((32, 4000), ((64, 64), (1088, 1920)), 32) == (64, 1920)
    assert within((40, 40), ((50, 50), (1000, 1000)), 32) == (64, 64)  # min rounded up to a multiple


def test_a_size_that_is_not_a_multiple_of_the_stride_fails_at_construction():
    from unet_edge.core.shipped import resolve_model
    from unet_edge.runtime.runners import open_runner

    with pytest.raises(ConfigError, match="multiples of 32"):
        open_runner(resolve_model("camvid-lite0"), input_size=(50, 50))
    with pytest.raises(ConfigError, match="positive"):
        open_runner(resolve_model("camvid-lite0"), input_size=(0, 64))


def test_the_report_says_the_sizes_run(dynamic_model, tmp_path):
    from unet_edge.runtime.pipeline import StreamOptions

    clip = write_clip(tmp_path / "wide.mp4", frames=3, size=(90, 160))
    with Segmenter(dynamic_model) as seg:
        pipe = seg.pipeline(str(clip), None, StreamOptions())
        list(pipe.frames())
    h, w = aspect_size((64, 96), (90, 160))
    assert pipe.summary()["input_sizes"] == {f"{h}x{w}": 3}


def test_run_says_which_size_the_footage_chose(dynamic_model, tmp_path):
    clip = write_clip(tmp_path / "wide.mp4", frames=3, size=(90, 160))
    code, out, _ = cli("run", "--model", str(dynamic_model), "--source", str(clip), "--max-frames", "3")
    assert code == 0, out
    assert "input sized to the footage's aspect at about 64x96's pixels" in out
    assert "stream 0: input 59x105, 160x90 footage at the model's 64x96 pixel count" in out


def test_run_with_a_size_on_a_fixed_model_is_one_line(model, tmp_path):
    clip = write_clip(tmp_path / "wide.mp4", frames=2, size=(90, 160))
    code, _, err = cli("run", "--model", str(model), "--source", str(clip), "--size", "48x48")
    assert code != 0 and "fixed at 64x96" in err


def test_openvino_compiles_once_per_size_and_keeps_the_others(dynamic_model):
    pytest.importorskip("openvino", reason="OpenVINO is the [openvino] extra")
    wide = aspect_size((64, 96), (90, 160))
    with Segmenter(dynamic_model, provider="openvino", precision="f32") as seg:
        assert set(seg.runner._by_size) == {(64, 96)}
        assert seg(np.full((90, 160, 3), 100, np.uint8)).shape == (90, 160)
        assert set(seg.runner._by_size) == {(64, 96), wide}
        assert seg.runner.input_size == (64, 96)
        assert seg(np.full((64, 96, 3), 100, np.uint8)).shape == (64, 96)
        # more sizes than it keeps: the export's own stays, the oldest other goes
        for side in (40, 48, 56, 72, 80):
            seg.runner.infer(np.full((side, side, 3), 100, np.uint8))
        assert (64, 96) in seg.runner._by_size and len(seg.runner._by_size) == 4


def test_a_failed_openvino_compile_changes_nothing(dynamic_model, monkeypatch):
    pytest.importorskip("openvino", reason="OpenVINO is the [openvino] extra")
    from unet_edge.core.errors import RunnerError
    from unet_edge.runtime.runners import openvino as ov

    with Segmenter(dynamic_model, provider="openvino", precision="f32") as seg:
        real = ov.core()

        class Failing:
            def __getattr__(self, name):
                return getattr(real, name)

            def compile_model(self, *a, **k):
                raise RuntimeError("out of memory")

        monkeypatch.setattr(ov, "core", lambda: Failing())
        with pytest.raises(RunnerError, match="cannot compile .* out of memory"):
            seg(np.full((90, 160, 3), 100, np.uint8))
        monkeypatch.setattr(ov, "core", lambda: real)
        assert seg.runner.active and seg(np.full((64, 96, 3), 100, np.uint8)).shape == (64, 96)
        assert seg(np.full((90, 160, 3), 100, np.uint8)).shape == (90, 160)


@pytest.mark.parametrize("provider", ["cpu", "openvino"])
def test_a_call_while_a_stream_runs_at_another_size(dynamic_model, tmp_path, provider):
    if provider == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is the [openvino] extra")
    import threading

    clip = write_clip(tmp_path / "wide.mp4", frames=30, size=(90, 160))
    errors: list[BaseException] = []
    with Segmenter(dynamic_model, provider=provider) as seg:
        def calls():
            try:
                for _ in range(30):
                    assert seg(np.full((96, 96, 3), 100, np.uint8)).shape == (96, 96)
            except BaseException as exc:
                errors.append(exc)

        caller = threading.Thread(target=calls)
        caller.start()
        frames = list(seg.stream(str(clip)))
        caller.join()
    assert not errors and len(frames) == 30
    assert {f.mask.shape for f in frames} == {aspect_size((64, 96), (90, 160))}


def test_onnx_runtimes_tensorrt_provider_gets_the_builds_profile_and_sizes_keep_to_it():
    from unet_edge.core.shipped import resolve_model
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    runner = OnnxRuntimeRunner(resolve_model("camvid-lite0"))
    opts = runner._trt_profile()
    assert opts == {"trt_profile_min_shapes": "frame:1x64x64x3", "trt_profile_opt_shapes": "frame:1x352x480x3",
                    "trt_profile_max_shapes": "frame:4x1088x1920x3"}
    assert runner.size_limits == ((64, 64), (1088, 1920))
    assert runner.size_for((1080, 1920)) == (320, 544)
    h, w = runner.size_for((100, 20000))  # a strip wider than the profile takes
    assert w == 1920 and h >= 64 and h % 32 == 0 and w % 32 == 0
