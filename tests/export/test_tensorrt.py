"""Engine build and inference with real TensorRT. These run only where tensorrt imports and a GPU
is present (a Jetson, a CUDA box); everywhere else they skip and say why."""

from __future__ import annotations

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed here; engine tests run on a Jetson or "
                                             "GPU box with 'pip install unet-edge[trt]'")
pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def gpu():
    from unet_edge.runtime.runners.cuda import device_info

    try:
        return device_info()
    except Exception as exc:  # no driver / no device
        pytest.skip(f"tensorrt imports but no CUDA device is usable: {exc}")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_builds_and_agrees_with_onnxruntime(exported, gpu, precision, tmp_path):
    from unet_edge.export.tensorrt.from_export import BuildOptions, build_from_export, siblings
    from unet_edge.export.verify import Gate
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner
    from unet_edge.runtime.runners.tensorrt import TensorRTRunner
    from unet_edge.synth import scene

    out, _, _ = exported
    opts = BuildOptions(out=tmp_path / f"m.{precision}.engine", workspace_gb=0.5,
                        timing_cache=tmp_path / "timing.cache")
    engine = build_from_export(siblings(out / "best.onnx"), precision, opts, lambda _m: None)
    assert (tmp_path / "timing.cache").stat().st_size > 0
    frames = [scene(200 + i, (64, 96))[0] for i in range(6)]
    with TensorRTRunner(engine) as t, OnnxRuntimeRunner(out / "best.onnx") as o:
        agree = np.mean([np.mean(t.infer(f) == o.infer(f)) for f in frames])
        assert t.infer(frames[0]).dtype == np.uint8
        assert t.timings["compute_ms"] > 0 and (t.mapped or t.timings["h2d_ms"] is not None)
    assert agree >= Gate().threshold(precision)


def test_engine_cache_reuses_a_build(exported, gpu):
    from unet_edge.export.tensorrt.from_export import BuildOptions, build_from_export, siblings

    out, _, _ = exported
    first = build_from_export(siblings(out / "best.onnx"), "fp16", BuildOptions(workspace_gb=0.5), lambda _m: None)
    mtime = first.stat().st_mtime_ns
    again = build_from_export(siblings(out / "best.onnx"), "fp16", BuildOptions(workspace_gb=0.5), lambda _m: None)
    assert again == first and again.stat().st_mtime_ns == mtime
