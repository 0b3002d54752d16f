"""The OpenVINO runner on the tiny model (torch-free): agreement with ONNX Runtime, an explicit
precision read back from the compiled model, bf16 where the CPU has it, devices, the compile cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from unet_edge.core.errors import ConfigError, MissingDependencyError
from unet_edge.runtime.runners import TIMING_FIELDS, open_runner

from .tiny_model import tiny_model

pytest.importorskip("openvino", reason="OpenVINO is not installed (the 'openvino' extra)")
pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")

from unet_edge.runtime.runners.openvino import OpenVINORunner, available_devices, supports_bf16  # noqa: E402

needs_bf16 = pytest.mark.skipif(not supports_bf16("CPU"), reason="this CPU has no bf16 (AMX or AVX512-BF16)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("ov-tiny") / "tiny.onnx")


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh compile cache per test (the env override every runner without ``cache_dir`` reads)."""
    monkeypatch.setenv("UNET_EDGE_OPENVINO_CACHE", str(tmp_path / "ov-cache"))
    return tmp_path / "ov-cache"


def _frames() -> list[np.ndarray]:
    """Random frames, flat ones at every class boundary and a gradient: every class id appears."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 96, 3), np.uint8) for _ in range(4)]
    frames += [np.full((64, 96, 3), v, np.uint8) for v in (0, 23, 24, 47, 48, 239, 240, 255)]
    frames.append(np.repeat(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], 64, 0).repeat(3, 2))
    return frames


def test_f32_masks_equal_onnxruntime_and_fill_the_timings(tiny, cache):
    with open_runner(tiny) as ort, open_runner(tiny, provider="openvino") as ov:
        assert isinstance(ov, OpenVINORunner) and ov.backend == "openvino" and ov.precision == "fp32"
        for frame in _frames():
            assert np.array_equal(ov.infer(frame), ort.infer(frame))
            assert set(ov.timings) == set(TIMING_FIELDS) and ov.timings["compute_ms"] > 0
            assert ov.timings["h2d_ms"] is None and ov.timings["d2h_ms"] is None  # CPU: no transfers
        outs = ov.infer_outputs(_frames()[0])
        assert list(outs) == ["mask"] and outs["mask"].dtype == np.uint8 and outs["mask"].shape == (64, 96)


def test_the_precision_hint_is_set_explicitly(tiny, cache):
    """OpenVINO's default on an AMX CPU is bf16: f32 is asked for and read back, never assumed."""
    with open_runner(tiny, provider="openvino", threads=1) as ov:
        assert ov.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"
        assert ov.compiled.get_property("INFERENCE_NUM_THREADS") == 1
        assert str(ov.compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert ov._config(["CPU"])["INFERENCE_PRECISION_HINT"] == "f32"


@needs_bf16
def test_bf16_runs_and_is_reported_as_bf16(tiny, cache):
    with open_runner(tiny) as ort, open_runner(tiny, provider="openvino", precision="bf16") as ov:
        assert ov.precision == "bf16" and ov.artifact_precision == "fp32"
        assert ov.compiled_precision() == "bf16"
        agree = np.mean([np.mean(ov.infer(f) == ort.infer(f)) for f in _frames()])
    assert agree > 0.9


def test_bf16_where_the_device_lacks_it_is_one_line(tiny, cache, monkeypatch):
    from unet_edge.runtime.runners import openvino as ov_module

    monkeypatch.setattr(ov_module, "supports_bf16", lambda _device="CPU": False)
    with pytest.raises(ConfigError, match="bf16 needs") as err:
        open_runner(tiny, provider="openvino", precision="bf16").activate()
    assert "\n" not in str(err.value) and "--precision f32" in str(err.value)


def test_a_missing_package_is_one_line_naming_the_extra(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # the lazy import fails as if not installed
    with pytest.raises(MissingDependencyError) as err:
        open_runner(tiny, provider="openvino").activate()
    assert "\n" not in str(err.value) and "unet-edge[openvino]" in str(err.value)


def test_unknown_or_absent_devices_and_precisions_are_one_line(tiny, cache):
    with pytest.raises(ConfigError, match="unknown OpenVINO device 'TPU'") as err:
        open_runner(tiny, provider="openvino", device="TPU").activate()
    assert "\n" not in str(err.value)
    absent = next((d for d in ("NPU", "GPU") if not any(a.startswith(d) for a in available_devices())), None)
    if absent:
        with pytest.raises(ConfigError, match=f"{absent} is not available here") as err:
            open_runner(tiny, provider="openvino", device=absent.lower()).activate()
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown OpenVINO precision 'fp8'"):
        open_runner(tiny, provider="openvino", precision="fp8")
    with pytest.raises(ConfigError, match="apply to --provider openvino"):
        open_runner(tiny, provider="cpu", device="GPU")


def test_auto_runs_on_a_reported_device(tiny, cache):
    with open_runner(tiny) as ort, open_runner(tiny, provider="openvino", device="AUTO") as ov:
        assert set(ov.execution_devices) <= set(available_devices())
        assert np.array_equal(ov.infer(_frames()[0]), ort.infer(_frames()[0]))


@pytest.mark.parametrize("device", ["GPU", "NPU"])
def test_accelerators_where_openvino_reports_them(tiny, cache, device):
    if not any(d.startswith(device) for d in available_devices()):
        pytest.skip(f"OpenVINO reports no {device} here ({', '.join(available_devices())})")
    with open_runner(tiny) as ort, open_runner(tiny, provider="openvino", device=device) as ov:
        assert np.mean(ov.infer(_frames()[0]) == ort.infer(_frames()[0])) > 0.99


def test_the_compile_cache_is_populated_and_reused(tiny, cache):
    with OpenVINORunner(tiny) as first:
        assert first.cache_hit is False and first.compile_ms > 0
    assert any(cache.iterdir())
    with OpenVINORunner(tiny) as second:
        assert second.cache_hit is True
    with OpenVINORunner(tiny, cache_dir=cache.parent / "elsewhere") as third:  # an explicit folder wins
        assert third.cache_hit is False and any((cache.parent / "elsewhere").iterdir())


def test_a_dynamic_export_is_compiled_at_the_chosen_size(tmp_path, cache):
    import json

    import onnx

    from unet_edge.core.artifact import write_meta

    path = tiny_model(tmp_path / "dyn.onnx", embed=False)
    graph = onnx.load(str(path))
    for value, names in ((graph.graph.input[0], ("batch", "height", "width")), (graph.graph.output[0],
                                                                              ("batch", "height", "width"))):
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            dim.dim_param = name
    onnx.save(graph, str(path))
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    meta["input"]["shape"] = ["batch", "height", "width", 3]
    meta["outputs"][0]["shape"] = ["batch", "height", "width"]
    write_meta(path, meta)
    frames = np.stack(_frames()[:2])[:, :32, :48]
    with open_runner(path, input_size=(32, 48)) as ort, \
            open_runner(path, provider="openvino", input_size=(32, 48)) as ov:
        assert np.array_equal(ov.infer(frames), ort.infer(frames))
        with pytest.raises(ConfigError, match="compiled dyn.onnx for 32x48"):
            ov.infer(_frames()[0])


def test_bench_rows_for_openvino_f32_and_bf16_with_their_first_run_cost(tiny, cache):
    from unet_edge.bench.report import tables
    from unet_edge.bench.suite import BenchConfig, run_bench

    cfg = BenchConfig(model=tiny, backends="all", warmup=1, iters=3, min_seconds=0, provider="openvino")
    result = run_bench(cfg, log=lambda _m: None)
    rows = {r["backend"]: r for r in result["rows"]}
    assert list(rows) == ["onnxruntime", "openvino", "openvino-bf16", "openvino-int8"]
    assert rows["openvino"]["status"] == "ok" and rows["openvino"]["agreement"] == 1.0
    assert rows["openvino"]["first_run_ms"] > 0 and rows["openvino"]["load_ms"] > 0
    assert rows["openvino-int8"]["status"] == "unavailable" and "is fp32" in rows["openvino-int8"]["reason"]
    bf16 = rows["openvino-bf16"]
    if supports_bf16("CPU"):
        assert bf16["precision"] == "bf16" and bf16["agreement"] > 0.9 and bf16["timing"]["p50"] > 0
    else:
        assert bf16["status"] == "unavailable" and "bf16" in bf16["reason"]
    assert tables(result)[0].row_count == 4
    # the user's compile cache now holds both: a second bench reports the first run's cost beside the load
    again = {r["backend"]: r for r in run_bench(cfg, log=lambda _m: None)["rows"]}
    assert again["openvino"]["first_run_ms"] > 0 and again["openvino"]["load_ms"] > 0


def test_doctor_reports_openvino_its_devices_and_bf16():
    from unet_edge.doctor import checks

    item = next(c for c in checks() if c.name == "openvino")
    assert item.status == "ok" and "OpenVINO 20" in item.detail and "devices: CPU" in item.detail
    assert ("CPU bf16: yes" if supports_bf16("CPU") else "CPU bf16: no") in item.detail


def test_run_takes_provider_openvino_and_its_device_and_precision(tiny, cache, tmp_path):
    import subprocess

    cli = [sys.executable, "-m", "unet_edge", "run", "--model", str(tiny), "--source", "synth://?size=64x96",
           "--max-frames", "3", "--provider", "openvino"]
    proc = subprocess.run([*cli, "--precision", "f32"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[openvino fp32," in proc.stdout
    for args, expect in ((["--device", "TPU"], "unknown OpenVINO device 'TPU'"),
                         (["--precision", "fp8"], "--precision fp8: choose one of f32, bf16")):
        proc = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and expect in lines[0], proc.stderr
    proc = subprocess.run([*cli[:-1], "cpu", "--device", "GPU"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 1 and "apply to --provider openvino" in proc.stderr


def test_eval_and_serve_open_the_openvino_runner(tiny, cache, tmp_path):
    from unet_edge.export.any_model import open_model
    from unet_edge.runtime.segmenter import Segmenter

    assert isinstance(open_model(tiny, provider="openvino", precision="f32"), OpenVINORunner)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"PK")  # judged by its kind (a PyTorch file) before it is read
    with pytest.raises(ConfigError, match="OpenVINO runs its export"):
        open_model(pt, provider="openvino")
    with Segmenter(tiny, provider="openvino", device="CPU") as seg:  # what serve and run open
        assert seg.runner.backend == "openvino" and seg(np.zeros((128, 192, 3), np.uint8)).shape == (128, 192)
