"""bench over the backends available here; unavailable ones are listed with reasons."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unet_edge.bench.backends import BACKENDS, parse_backends, unavailable_reason
from unet_edge.core.errors import BenchError, ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench_result(trained_run, synth_dir, tmp_path_factory):
    from unet_edge.bench.suite import BenchConfig, run_bench

    cfg = BenchConfig(model=trained_run / "best.pt", backends="all", warmup=3, iters=15, min_seconds=0.2,
                      data=synth_dir, dataset="folder", data_limit=8, source=str(synth_dir / "clip.mp4"),
                      stream_frames=15, cache_dir=tmp_path_factory.mktemp("bench-cache"))
    return run_bench(cfg, log=lambda _m: None)


def test_every_backend_gets_a_row_with_sane_columns(bench_result):
    rows = {r["backend"]: r for r in bench_result["rows"]}
    assert list(rows) == list(BACKENDS)
    for name in ("torch", "torch-nchw", "onnxruntime", "onnxruntime-fp16", "onnxruntime-int8"):
        r = rows[name]
        assert r["status"] == "ok", r
        t = r["timing"]
        assert 0 < t["p50"] <= t["p90"] <= t["p99"]
        assert t["fps"] == pytest.approx(1000 / t["mean"])
        assert r["size_mb"] > 0 and 0 <= r["miou"] <= 1 and r["agreement"] > 0.97
        assert set(t["stages"]) == {"resize_ms", "h2d_ms", "compute_ms", "d2h_ms", "render_ms"}
        assert t["stages"]["h2d_ms"] is None  # transfers are n/a on CPU
        assert r["stream"]["file"]["frames"] == 15 and r["stream"]["file"]["fps"] > 0
    assert rows["onnxruntime-int8"]["size_mb"] < rows["onnxruntime"]["size_mb"] / 3
    assert rows["torch-nchw"]["agreement"] > 0.999  # same model, other memory format


def test_unavailable_backends_say_why(bench_result):
    import importlib.util

    rows = {r["backend"]: r for r in bench_result["rows"]}
    if importlib.util.find_spec("tensorrt") is None:
        for name in ("tensorrt-fp32", "tensorrt-fp16", "tensorrt-int8"):
            assert rows[name]["status"] == "unavailable"
            assert "tensorrt is not installed" in rows[name]["reason"]
    assert unavailable_reason("torch", "onnx").startswith("needs a PyTorch model (a checkpoint, a state dict")
    assert unavailable_reason("onnxruntime", "engine") == "a TensorRT engine runs only on TensorRT"


def test_json_and_plot_from_the_command_line(trained_run, synth_dir, tmp_path):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    proc = subprocess.run([sys.executable, "-m", "unet_edge", "bench", "--model", str(trained_run / "best.pt"),
                           "--backends", "torch,onnxruntime", "--iters", "5", "--warmup", "2",
                           "--min-seconds", "0", "--json", str(out), "--plot", str(png), "--cache-dir",
                           str(tmp_path / "cache")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "p99 ms" in proc.stdout and "CPU threads for every CPU backend" in proc.stdout
    result = json.loads(out.read_text())
    sysinfo = result["system"]
    assert sysinfo["cpu"]["cores"] >= 1 and "python" in sysinfo["versions"] and "gpus" in sysinfo
    assert [r["backend"] for r in result["rows"]] == ["torch", "onnxruntime"]
    assert result["requested"] == ["torch", "onnxruntime"]
    assert png.stat().st_size > 5000


def test_a_named_backend_this_box_lacks_fails_before_any_export(trained_run, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("this box has TensorRT")
    proc = subprocess.run([sys.executable, "-m", "unet_edge", "bench", "--model", str(trained_run / "best.pt"),
                           "--backends", "torch,tensorrt-fp16", "--cache-dir", str(tmp_path / "cache"),
                           "--json", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "unet-edge: error: --backends torch,tensorrt-fp16: tensorrt-fp16 cannot run here: tensorrt is not "
        "installed (TensorRT engines); install it with: pip install 'unet-edge[trt]' on the GPU/Jetson; engines "
        "are built there"], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_bench_an_onnx_file_reports_other_precisions_unavailable(tmp_path, trained_run):
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.export.exporter import ExportOptions, export_model

    export_model(trained_run / "best.pt", ExportOptions(out=tmp_path, verify=False), lambda _m: None)
    result = run_bench(BenchConfig(model=tmp_path / "best.onnx", backends="all", iters=5, warmup=1, min_seconds=0),
                       log=lambda _m: None)
    status = {r["backend"]: (r["status"], r["reason"]) for r in result["rows"]}
    assert status["torch"][0] == "unavailable" and status["torch"][1].startswith("needs a PyTorch model")
    assert status["onnxruntime"][0] == "ok"
    assert status["onnxruntime-fp16"][0] == "unavailable" and "is fp32" in status["onnxruntime-fp16"][1]
    with pytest.raises(BenchError, match="onnxruntime-fp16 cannot run here: best.onnx is fp32"):  # named: an error
        run_bench(BenchConfig(model=tmp_path / "best.onnx", backends="onnxruntime,onnxruntime-fp16"),
                  log=lambda _m: None)


def test_unknown_backend_is_rejected():
    with pytest.raises(ConfigError, match="unknown backend"):
        parse_backends("torch,tflite")
