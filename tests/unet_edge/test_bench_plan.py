"""``bench``'s plan on a tiny export (no training): its options and outputs are checked first, a model it
cannot open fails with the real cause, a backend named in --backends that cannot run fails the command
(before running where that is known, after the table where it fails while running), and one that
``all`` merely tried stays a row."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from unet_edge.bench.plan import BenchConfig, check_options, check_outputs, check_requested_ran
from unet_edge.bench.suite import run_bench
from unet_edge.core.errors import BenchError, ConfigError, ExportError

pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")
from tests.runtime.tiny_model import tiny_model  # noqa: E402

FAST = {"iters": 2, "warmup": 0, "min_seconds": 0.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from unet_edge.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kw,message", [
    ({"batch": 0}, "--batch 0: give at least 1"), ({"iters": 0}, "--iters 0"), ({"warmup": -1}, "--warmup -1"),
    ({"min_seconds": -0.5}, "--min-seconds -0.5"), ({"threads": 0}, "--threads 0"),
    ({"stream_frames": 0}, "--stream-frames 0"), ({"data_limit": 0}, "--data-limit 0"),
    ({"size": (8, 64)}, "--size 8x64"), ({"backends": "torch,tflite"}, "unknown backend.*tflite.*choose from torch"),
])
def test_options_are_checked_first(kw, message, tiny):
    with pytest.raises(ConfigError, match=message):
        check_options(BenchConfig(model=tiny, **kw))


def test_outputs_are_never_inputs_nor_folders(tiny, tmp_path):
    cfg = BenchConfig(model=tiny)
    with pytest.raises(ConfigError, match="--json .*tiny.onnx.json is the input --model"):
        check_outputs(cfg, tiny, Path(str(tiny) + ".json"), None)
    with pytest.raises(ConfigError, match="--json .* a folder"):
        check_outputs(cfg, tiny, tmp_path, None)
    with pytest.raises(ConfigError, match="would write over each other"):
        check_outputs(cfg, tiny, tmp_path / "b.json", tmp_path / "b.json")
    frames = tmp_path / "frames"
    frames.mkdir()
    with pytest.raises(ConfigError, match="--plot .* lies inside the input --source"):
        check_outputs(BenchConfig(model=tiny, source=str(frames)), tiny, None, frames / "b.png")
    check_outputs(cfg, tiny, tmp_path / "b.json", tmp_path / "b.png")


def test_a_model_it_cannot_open_fails_with_the_real_cause(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ExportError, match="corrupt.onnx: not a readable ONNX file"):  # not its colour order
        run_bench(BenchConfig(model=corrupt, **FAST), log=lambda _m: None)
    assert not (tmp_path / "cache" / "unet-edge" / "bench").exists()  # nothing exported before failing
    lone = tiny_model(tmp_path / "lone.onnx", embed=False)
    Path(str(lone) + ".json").unlink()  # a graph from another exporter: its contract must be given
    with pytest.raises(ConfigError, match="colour order"):
        run_bench(BenchConfig(model=lone, **FAST), log=lambda _m: None)


def test_a_named_backend_that_cannot_run_fails_before_running(tiny):
    for backends, why in (("onnxruntime,torch", "torch cannot run here: needs a PyTorch model"),
                          ("onnxruntime-fp16", "tiny.onnx is fp32")):
        said: list[str] = []
        with pytest.raises(BenchError, match=why):
            run_bench(BenchConfig(model=tiny, backends=backends, **FAST), log=said.append)
        assert not any(m.startswith("timing") for m in said), said  # not even the backend that could run


def test_all_keeps_unavailable_rows_and_exits_zero(tiny, tmp_path):
    code, out, err = _cli(["bench", "--model", str(tiny), "--backends", "all", "--iters", "2", "--warmup", "0",
                           "--min-seconds", "0", "--json", str(tmp_path / "b.json")])
    assert code == 0, err
    result = json.loads((tmp_path / "b.json").read_text())
    rows = {r["backend"]: r for r in result["rows"]}
    assert result["requested"] == [] and rows["onnxruntime"]["status"] == "ok"
    assert rows["torch"]["status"] == "unavailable" and rows["onnxruntime-fp16"]["status"] == "unavailable"


def test_a_named_backend_that_fails_while_running_fails_after_its_row(tiny, tmp_path):
    pytest.importorskip("openvino")
    code, out, err = _cli(["bench", "--model", str(tiny), "--backends", "onnxruntime,openvino", "--provider",
                           "openvino", "--device", "GPU", "--iters", "2", "--warmup", "0", "--min-seconds", "0"])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("unet-edge: error: --backends onnxruntime,openvino: openvino could not run: ")
    assert "onnxruntime" in out and "unavailable" in out  # the table came first
    with pytest.raises(BenchError, match="a could not run: no device"):
        check_requested_ran({"requested": ["a"], "rows": [{"backend": "a", "status": "unavailable",
                                                            "reason": "no\ndevice"}]})
    check_requested_ran({"requested": [], "rows": [{"backend": "a", "status": "unavailable", "reason": "x"}]})
