"""TensorRT version logic, cache keys and engine-compatibility messages (no tensorrt needed)."""

from __future__ import annotations

import pytest

from unet_edge.core.artifact import FORMAT, ArtifactMeta
from unet_edge.core.errors import ArtifactError, ConfigError, EngineError
from unet_edge.core.sysinfo import l4t_release
from unet_edge.export.tensorrt.plan import build_command, engine_cache_key, parse_version, plan_build
from unet_edge.runtime.runners.engine_check import check_engine, deserialize_failed, mismatch


@pytest.mark.parametrize("version,precision,onnx,strong,flags,explicit", [
    ((8, 5, 2), "fp16", "fp32", False, ("FP16",), True),        # JetPack 5.1
    ((8, 6, 2), "int8", "int8", False, ("FP16", "INT8"), True),  # JetPack 6.0
    ((10, 3, 0), "fp16", "fp32", False, ("FP16",), False),      # JetPack 6.1/6.2
    ((10, 3, 0), "fp32", "fp32", False, (), False),
    ((10, 12, 0), "fp16", "fp16", True, (), False),             # strongly typed from 10.12
    ((10, 12, 0), "int8", "int8", True, (), False),
    ((11, 0, 0), "fp16", "fp16", True, (), False),              # no FP16 flag exists in 11
])
def test_plan_per_version(version, precision, onnx, strong, flags, explicit):
    plan = plan_build(version, precision)
    assert (plan.onnx, plan.strongly_typed, plan.builder_flags, plan.explicit_batch_flag) == \
        (onnx, strong, flags, explicit)


def test_dla_needs_reduced_precision_and_adds_gpu_fallback():
    with pytest.raises(ConfigError, match="DLA runs only FP16 or INT8"):
        plan_build((8, 5), "fp32", dla_core=0)
    plan = plan_build((8, 5), "fp16", dla_core=1)
    assert plan.dla_core == 1 and "GPU_FALLBACK" in plan.builder_flags


def test_parse_version_and_unknown_precision():
    assert parse_version("10.3.0.26") == (10, 3, 0, 26)
    with pytest.raises(ConfigError):
        plan_build((10, 3), "int4")


def test_cache_key_changes_with_everything_an_engine_is_tied_to():
    base = dict(onnx_sha256="a" * 64, trt_version="10.3.0", gpu_name="Orin", compute_capability="8.7",
                precision="fp16", shapes={"input": [1, 352, 480, 3]}, dla_core=None, l4t="36.4.0")
    key = engine_cache_key(**base)
    assert key == engine_cache_key(**base)
    for field, value in (("onnx_sha256", "b" * 64), ("trt_version", "10.3.1"), ("gpu_name", "Xavier"),
                         ("compute_capability", "7.2"), ("precision", "int8"),
                         ("shapes", {"input": [1, 360, 480, 3]}), ("dla_core", 0), ("l4t", "35.5.0")):
        assert engine_cache_key(**{**base, field: value}) != key, field


def test_l4t_release_parsing(tmp_path):
    f = tmp_path / "nv_tegra_release"
    f.write_text("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64\n")
    assert l4t_release(f) == "36.4.0"
    assert l4t_release(tmp_path / "absent") is None


def test_build_command_is_the_exact_line():
    assert build_command("m.onnx", "fp16", dla_core=0) == "unet-edge build m.onnx --precision fp16 --dla 0"


def _meta(tmp_path, engine):
    data = {"format": FORMAT, "version": 1, "version_minor": 0, "classes": ["road"], "palette": [[128, 64, 128]],
            "ignore_index": 255,
            "precision": "fp16", "train_input_size": [64, 96],
            "engine": {"source_onnx": "m.onnx", "l4t": None, "dla_core": None, **engine},
            "input": {"name": "frame", "shape": [1, 64, 96, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                      "multiple_of": 1},
            "outputs": [{"name": "mask", "shape": [1, 64, 96], "dtype": "uint8", "semantics": "class_ids"}]}
    return ArtifactMeta.from_dict(data, tmp_path / "m.engine")


def test_engine_from_another_trt_or_gpu_names_both_sides_and_the_fix(tmp_path):
    meta = _meta(tmp_path, {"tensorrt": "8.5.2", "gpu": "Xavier", "compute_capability": "7.2",
                            "rebuild": "unet-edge build m.onnx --fp16"})
    assert mismatch(meta, "8.5.2", "Xavier", "7.2") is None
    with pytest.raises(EngineError) as err:
        check_engine(meta, "10.3.0", "Orin", "8.7")
    msg = str(err.value)
    assert "TensorRT 8.5.2 (here 10.3.0)" in msg and "sm_72 (here Orin sm_87)" in msg
    assert msg.endswith("rebuild it on this device with: unet-edge build m.onnx --fp16")
    assert "cannot load this engine" in str(deserialize_failed(meta, "10.3.0", "Orin"))


def test_an_engine_without_its_build_facts_is_refused_before_loading(tmp_path):
    from dataclasses import replace

    from unet_edge.runtime.runners.tensorrt import TensorRTRunner

    meta = replace(_meta(tmp_path, {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7",
                                    "rebuild": "unet-edge build m.onnx --precision fp16"}), engine=None)
    with pytest.raises(ArtifactError, match="m.engine: its metadata has no 'engine' block"):
        TensorRTRunner(meta=meta)  # no tensorrt import needed: refused at construction


def test_trtexec_and_polygraphy_lines_match_the_plan():
    from unet_edge.core.artifact import profile_shapes
    from unet_edge.export.tensorrt.plan import polygraphy_command, trtexec_command

    shapes = profile_shapes(["N", "H", "W", 3], (352, 480), max_batch=8)
    assert shapes == ((1, 64, 64, 3), (1, 352, 480, 3), (8, 1088, 1920, 3))
    assert profile_shapes([1, 352, 480, 3], (352, 480)) is None
    old = trtexec_command("m.onnx", plan_build((8, 6, 2), "int8"), "int8", "m.engine", 1.0, None)
    assert old == "trtexec --onnx=m.onnx --saveEngine=m.engine --memPoolSize=workspace:1024M --fp16 --int8"
    new = trtexec_command("m.fp16.onnx", plan_build((10, 13), "fp16"), "fp16", "m.engine", 0.5, shapes,
                          timing_cache="t.cache")
    assert new == ("trtexec --onnx=m.fp16.onnx --saveEngine=m.engine --memPoolSize=workspace:512M --stronglyTyped "
                   "--minShapes=frame:1x64x64x3 --optShapes=frame:1x352x480x3 --maxShapes=frame:8x1088x1920x3 "
                   "--timingCacheFile=t.cache")
    dla = trtexec_command("m.onnx", plan_build((10, 3), "fp16", dla_core=1), "fp16", "m.engine", 1.0, None)
    assert dla.endswith("--fp16 --useDLACore=1 --allowGPUFallback")
    assert polygraphy_command("m.onnx", "fp16", (1, 352, 480, 3)) == (
        "polygraphy run m.onnx --trt --onnxrt --fp16 --input-shapes frame:[1,352,480,3] --val-range frame:[0,255] "
        "--check-error-stat median")


def test_progress_monitor_is_planned_from_tensorrt_10():
    assert not plan_build((8, 6, 2), "fp16").progress_monitor and plan_build((10, 3), "fp16").progress_monitor
