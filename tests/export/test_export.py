"""Export round trip, metadata in both places, parity at each precision, QDQ, and the errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from unet_edge.core.artifact import ArtifactMeta, load_meta, sidecar_path
from unet_edge.core.errors import ArtifactError, CheckpointError, ConfigError
from unet_edge.export.int8.graph_facts import count_qdq
from unet_edge.export.onnx_export import read_metadata
from unet_edge.export.report import read_report
from unet_edge.export.thresholds import THRESHOLDS
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner
from unet_edge.torch_runner import TorchRunner

pytestmark = pytest.mark.slow


def test_export_writes_three_verified_artifacts(exported):
    out, result, logs = exported
    names = sorted(p.name for p in result.artifacts)
    assert names == ["best.fp16.onnx", "best.int8.onnx", "best.onnx"]
    for row in result.verification:
        assert row["agreement"] >= row["threshold"] and row["passed"], row
    assert any("| best.int8.onnx | int8 |" in line for line in logs)
    assert any("unet-edge build" in line for line in logs)  # no TensorRT here: the line to run on the device
    assert not list(out.glob(".*"))  # nothing half-written left behind


def test_metadata_lands_in_sidecar_and_metadata_props(exported, trained_run):
    out, _, _ = exported
    for name, precision in (("best.onnx", "fp32"), ("best.fp16.onnx", "fp16"), ("best.int8.onnx", "int8")):
        side = load_meta(out / name).raw
        inner = read_metadata(out / name)
        for key in ("classes", "palette", "ignore_index", "input", "outputs", "checkpoint_sha256", "versions",
                    "precision", "created"):
            assert side[key] == inner[key], key
        assert side["precision"] == precision
        assert side["input"] == {"name": "frame", "shape": [1, 64, 96, 3], "dtype": "uint8", "layout": "NHWC",
                                 "color": "BGR", "multiple_of": 1}
        assert side["outputs"][0]["semantics"] == "class_ids" and side["outputs"][0]["dtype"] == "uint8"
        assert side["classes"][3] == "Road" and "torch" in side["versions"]
    assert load_meta(out / "best.int8.onnx").raw["int8"]["target"] == "tensorrt"


def test_weights_are_embedded(exported):
    out, _, _ = exported
    assert not list(out.glob("*.data")) and not list(out.glob("*.onnx_data"))


def test_graph_takes_uint8_bgr_and_matches_pytorch_exactly_in_fp32(exported, trained_run):
    out, _, _ = exported
    from unet_edge.synth import scene

    frame = scene(99, (64, 96))[0]
    with OnnxRuntimeRunner(out / "best.onnx") as ort_runner, TorchRunner(trained_run / "best.pt") as ref:
        mask = ort_runner.infer(frame)
        assert mask.dtype == np.uint8 and mask.shape == (64, 96)
        assert np.array_equal(mask, ref.infer(frame))
        # the graph really reads BGR: swapping the channels changes the answer
        assert not np.array_equal(ort_runner.infer(np.ascontiguousarray(frame[..., ::-1])), mask)


def test_fp16_graph_has_half_weights_and_float_io(exported):
    import onnx

    out, _, _ = exported
    model = onnx.load(str(out / "best.fp16.onnx"))
    inits = {t.name: t for t in model.graph.initializer}
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    assert {inits[w].data_type for w in conv_weights} == {onnx.TensorProto.FLOAT16}
    # pre-processing constants stay FP32 (kept out of half precision on purpose)
    pre = {inits[n].data_type for n in inits if n.startswith("/pre/")}
    assert onnx.TensorProto.FLOAT in pre and onnx.TensorProto.FLOAT16 not in pre
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


def test_int8_models_hold_qdq_nodes_shaped_for_their_target(exported, trained_run, synth_dir, tmp_path):
    import onnx
    from onnx import numpy_helper

    out, _, _ = exported
    q, dq = count_qdq(out / "best.int8.onnx")
    assert q > 10 and dq > 10

    def activation_zero_point_types(path):
        g = onnx.load(str(path)).graph
        inits = {t.name: t for t in g.initializer}
        return {numpy_helper.to_array(inits[n.input[2]]).dtype.name for n in g.node
                if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in inits}

    assert activation_zero_point_types(out / "best.int8.onnx") == {"int8"}  # symmetric for TensorRT
    # TensorRT's float cost goes by MACs: this CPU's ONNX Runtime milliseconds are not an engine's
    assert read_report(out / "best.int8.onnx")["int8"]["search"]["float_ms"] == {}
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.int8.calibration import weights_record
    from unet_edge.export.int8.saturation import int8_kernels_saturate
    from unet_edge.runtime.runners.int8_probe import warn_if_saturating

    opts = ExportOptions(int8=True, int8_target="cpu", calib=str(synth_dir / "images"), calib_frames=32, out=tmp_path,
                         verify_frames=6)
    result = export_model(trained_run / "best.pt", opts, lambda _m: None)
    assert activation_zero_point_types(tmp_path / "best.int8-cpu.onnx") == {"uint8"}  # asymmetric for ORT CPU
    meta = load_meta(tmp_path / "best.int8-cpu.onnx").raw
    weights = weights_record(int8_kernels_saturate())
    assert weights.startswith("int8 symmetric per-channel")
    saturates = int8_kernels_saturate()
    assert meta["int8"] == {"target": "cpu", "activations": "uint8 asymmetric", "weights": weights,
                            "weight_bits": 7 if saturates else 8}
    # the runtime reads the field export wrote: an export made here never warns of saturation here
    assert warn_if_saturating(load_meta(tmp_path / "best.int8-cpu.onnx")) is False
    assert meta["subpixel"] is True
    report = read_report(tmp_path / "best.int8-cpu.onnx")  # what export measured: beside, not in, the sidecar
    assert result.reports[str(tmp_path / "best.int8-cpu.onnx")] == report
    assert 50 < report["int8"]["peak_rss_mb"]["mb"] < 4000  # calibration and search
    assert 0 <= report["int8"]["search"]["fp32_near_ties"] < 0.05  # the FP32 masks' fragile share, recorded
    assert report["int8"]["speed"]["int8_ms"] > 0 and report["verification"]["precision"] == "int8"
    stages = report["stage_seconds"]  # each stage's wall time, INT8's split into statistics and search
    assert {"model", "fp32", "int8", "int8_statistics", "int8_search", "verification"} <= set(stages)
    assert all(v >= 0 for v in stages.values()) and stages["int8"] >= stages["int8_statistics"]
    assert load_meta(tmp_path / "best.onnx").raw["subpixel"] is False  # the FP32 artifact keeps ConvTranspose
    # CPU flavour: up-sampling quantized end to end, Relu folded into the conv output ranges
    g = onnx.load(str(tmp_path / "best.int8-cpu.onnx")).graph
    producer = {o: n.op_type for n in g.node for o in n.output}
    ops = [n.op_type for n in g.node]
    assert "ConvTranspose" not in ops
    float_inits = {t.name for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT}
    for relu in (n for n in g.node if n.op_type == "Relu"):  # only where a float conv is: after, or before it
        readers = [n for n in g.node if relu.output[0] in n.input]
        assert producer[relu.input[0]] == "Conv" or all(n.op_type == "Conv" and n.input[1] in float_inits
                                                          for n in readers)
    d2s = [n for n in g.node if n.op_type == "DepthToSpace"]
    assert d2s and all(producer[n.input[0]] == "QuantizeLinear" for n in d2s)
    assert report["int8"]["int8_depth_to_space"] == len(d2s)
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no temp source left behind
        "best.int8-cpu.onnx", "best.int8-cpu.onnx.json", "best.int8-cpu.onnx.report.json", "best.onnx",
        "best.onnx.json", "best.onnx.report.json"]
    # ...and it is not TensorRT's INT8: building an engine from it is refused before TensorRT is needed
    from unet_edge.export.tensorrt.from_export import build_from_export, check_int8_flavour, siblings

    with pytest.raises(ConfigError, match="--int8-target tensorrt"):
        build_from_export(siblings(tmp_path / "best.int8-cpu.onnx"), "int8", log=lambda _m: None)
    check_int8_flavour(siblings(out / "best.int8.onnx"), "int8")  # the TensorRT flavour passes


def test_logits_export_reports_the_max_logit_error(trained_run, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    result = export_model(trained_run / "best.pt", ExportOptions(logits=True, out=tmp_path, verify_frames=4),
                               lambda _m: None)
    row = result.verification[0]
    assert row["max_logit_error"] is not None and row["max_logit_error"] < 1e-3
    meta = load_meta(tmp_path / "best.onnx")
    assert meta.outputs_logits and meta.output.shape == (1, 11, 64, 96)


def test_dynamic_export_runs_at_several_sizes(trained_run, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    export_model(trained_run / "best.pt", ExportOptions(dynamic=True, out=tmp_path, verify_frames=4),
                      lambda _m: None)
    with OnnxRuntimeRunner(tmp_path / "best.onnx") as r:
        assert r.infer(np.zeros((2, 96, 160, 3), np.uint8)).shape == (2, 96, 160)
        assert r.infer(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)
        with pytest.raises(ConfigError, match="multiples of 16"):
            r.infer(np.zeros((50, 64, 3), np.uint8))


def test_int8_refuses_to_run_without_real_calibration_frames(trained_run, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    with pytest.raises(ConfigError, match="real calibration frames"):
        export_model(trained_run / "best.pt", ExportOptions(int8=True, out=tmp_path, verify=False),
                          lambda _m: None)


def test_corrupt_or_truncated_onnx_gives_a_clear_error(exported, tmp_path):
    out, _, _ = exported
    for name, data in (("trunc.onnx", (out / "best.onnx").read_bytes()[:4000]), ("junk.onnx", b"hello")):
        path = tmp_path / name
        path.write_bytes(data)
        sidecar_path(path).write_text(sidecar_path(out / "best.onnx").read_text())
        with pytest.raises(ArtifactError, match="sidecar does not match"):
            OnnxRuntimeRunner(path)
        meta = load_meta(out / "best.onnx")
        with pytest.raises(ArtifactError, match="ONNX Runtime cannot load this model"), \
                OnnxRuntimeRunner(path, meta=ArtifactMeta.from_dict(meta.raw, path)):
            pass
        with pytest.raises(ArtifactError, match="not a readable ONNX file"):
            read_metadata(path)


def test_a_lone_export_reads_its_contract_from_metadata_props(exported, tmp_path):
    out, _, _ = exported
    lone = tmp_path / "lone.onnx"
    lone.write_bytes((out / "best.onnx").read_bytes())
    side, inner = load_meta(out / "best.onnx").raw, load_meta(lone).raw
    assert {k: v for k, v in side.items() if k != "artifact_sha256"} == inner == read_metadata(lone)


def test_runner_rejects_wrong_dtype_and_size(exported):
    out, _, _ = exported
    with OnnxRuntimeRunner(out / "best.onnx") as r:
        with pytest.raises(ConfigError, match="uint8 HxWx3"):
            r.infer(np.zeros((64, 96, 3), np.float32))
        with pytest.raises(ConfigError, match="takes 64x96"):
            r.infer(np.zeros((60, 96, 3), np.uint8))


def test_checkpoint_of_another_architecture_is_a_clear_error(trained_run, tmp_path):
    import torch

    ckpt = torch.load(trained_run / "best.pt", weights_only=True)
    ckpt["arch"], ckpt["model_options"] = "unet", {"width": 32, "batchnorm": False}
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="weights do not fit architecture 'unet'"):
        from unet_edge.export.exporter import ExportOptions, export_model

        export_model(tmp_path / "other.pt", ExportOptions(out=tmp_path), lambda _m: None)
    proc = subprocess.run([sys.executable, "-m", "unet_edge", "export", str(tmp_path / "other.pt")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "weights do not fit" in proc.stderr


def test_sidecar_is_plain_json_the_runtime_can_read(exported):
    out, _, _ = exported
    data = json.loads(sidecar_path(out / "best.onnx").read_text())
    assert data["format"] == "unet-edge/artifact" and len(data["artifact_sha256"]) == 64


def test_simplified_export_still_matches(trained_run, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    result = export_model(trained_run / "best.pt", ExportOptions(simplify=True, out=tmp_path, verify_frames=4),
                               lambda _m: None)
    assert result.verification[0]["agreement"] >= THRESHOLDS["fp32"]
    assert read_metadata(tmp_path / "best.onnx")["precision"] == "fp32"


def test_subpixel_rewrite_is_exact_and_exports(trained_run, tmp_path):
    import torch

    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.subpixel import SubPixelUp, deconv_to_subpixel

    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(5, 3, 3, stride=2, padding=1, output_padding=1)
    x = torch.randn(2, 5, 7, 9)
    torch.testing.assert_close(SubPixelUp(deconv)(x), deconv(x), atol=1e-5, rtol=1e-5)
    from unet_edge.models import create

    model = create("unet", num_classes=4, width=4).eval()
    with torch.inference_mode():
        ref = model(torch.randn(1, 3, 32, 48).clamp(-1, 1))
        sub = deconv_to_subpixel(model)
        assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in sub.modules())
        torch.testing.assert_close(sub(torch.randn(1, 3, 32, 48).clamp(-1, 1)).shape, ref.shape)
    result = export_model(trained_run / "best.pt", ExportOptions(subpixel=True, out=tmp_path, verify_frames=4),
                               lambda _m: None)
    assert result.verification[0]["agreement"] >= THRESHOLDS["fp32"]
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "best.onnx")).graph.node}
    assert "DepthToSpace" in ops and "ConvTranspose" not in ops


def test_measurements_go_to_the_report_and_the_contract_to_the_sidecar(exported):
    out, result, _ = exported
    for name in ("best.onnx", "best.fp16.onnx", "best.int8.onnx"):
        side = {k: v for k, v in load_meta(out / name).raw.items() if k != "artifact_sha256"}
        assert side == read_metadata(out / name)  # the ONNX file carries exactly the contract
        report = read_report(out / name)
        assert report["verification"]["passed"] and result.reports[str(out / name)] == report
    assert "drift" not in load_meta(out / "best.fp16.onnx").raw["fp16"]
    assert read_report(out / "best.fp16.onnx")["fp16"]["drift"]
    assert {"search", "peak_rss_mb", "method"} <= set(read_report(out / "best.int8.onnx")["int8"])


def test_export_json_dash_prints_the_reports_on_stdout(trained_run, tmp_path, capsys):
    from unet_edge.cli import main

    with pytest.raises(SystemExit) as done:
        main(["export", str(trained_run / "best.pt"), "--out", str(tmp_path), "--verify-frames", "2", "--no-build",
              "--json", "-"])
    assert not done.value.code
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout is the JSON alone; the log went to stderr
    report = result["reports"][str(tmp_path / "best.onnx")]
    assert report == read_report(tmp_path / "best.onnx") and report["verification"]["precision"] == "fp32"
    assert result["reference"] == "PyTorch eager" and report["reference"] == "PyTorch eager"
    assert "wrote" in captured.err
