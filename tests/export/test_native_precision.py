"""OpenVINO's bf16 execution verified by the export's gate, recorded in the contract, and the runner's
default where (and only where) it was verified on a CPU that computes in bf16."""

from __future__ import annotations

import pytest

from unet_edge.core.artifact import embedded_meta, load_meta

pytest.importorskip("openvino", reason="the openvino extra")

from unet_edge.runtime.runners.openvino import BF16_KEY, OpenVINORunner, default_precision, supports_bf16  # noqa: E402

needs_bf16 = pytest.mark.skipif(not supports_bf16("CPU"), reason="this CPU has no bf16 (AMX or AVX512-BF16)")


@needs_bf16
def test_the_fp32_file_is_checked_in_bf16_and_the_record_is_its_own(exported):
    from unet_edge.export.report import read_report

    out, result, logs = exported
    side = load_meta(out / "best.onnx")  # the sidecar's hash still matches the rewritten file
    assert side.raw[BF16_KEY] in ("verified", "failed")
    assert embedded_meta(out / "best.onnx").raw[BF16_KEY] == side.raw[BF16_KEY]
    part = read_report(out / "best.onnx")[BF16_KEY]
    assert part["verified"] == (side.raw[BF16_KEY] == "verified")
    row = part["row"]
    assert row["precision"] == "fp32, OpenVINO bf16" and row["threshold"] == 0.995  # judged as FP16 is
    assert any("run by OpenVINO in bf16" in line for line in logs)
    assert result.reports[str(out / "best.onnx")]["stage_seconds"]["openvino_bf16"] >= 0
    # the TensorRT INT8 flavour and FP16 are not OpenVINO's to run in bf16: no record
    for name in ("best.fp16.onnx", "best.int8.onnx"):
        assert BF16_KEY not in load_meta(out / name).raw


@needs_bf16
def test_the_runner_defaults_to_what_the_export_verified(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("UNET_EDGE_OPENVINO_CACHE", str(tmp_path / "ov"))
    out, _, _ = exported
    verified = load_meta(out / "best.onnx").raw[BF16_KEY] == "verified"
    with OpenVINORunner(out / "best.onnx") as ov:
        assert ov.compiled_precision() == ("bf16" if verified else "f32")
        assert ov.precision_source == ("verified by its export" if verified else "its export did not verify bf16")
        assert ov.precision_source in ov.describe()
    with OpenVINORunner(out / "best.onnx", precision="f32") as ov:  # explicit stays explicit
        assert ov.compiled_precision() == "f32" and ov.describe() == "openvino fp32"
    with OpenVINORunner(out / "best.fp16.onnx") as ov:  # never verified: f32
        assert ov.compiled_precision() == "f32"


def test_unverified_other_device_or_no_bf16_stays_at_f32(exported, monkeypatch):
    from unet_edge.runtime.runners import openvino as ov_module

    out, _, _ = exported
    meta = load_meta(out / "best.onnx")
    data = {**meta.raw, BF16_KEY: "verified"}
    verified = type(meta).from_dict(data, meta.path)
    monkeypatch.setattr(ov_module, "supports_bf16", lambda _device="CPU": True)
    assert default_precision(verified, "CPU") == ("bf16", "verified by its export")
    assert default_precision(verified, "GPU")[0] == "f32"
    assert default_precision(type(meta).from_dict({**meta.raw, BF16_KEY: "failed"}, meta.path), "CPU")[0] == "f32"
    monkeypatch.setattr(ov_module, "supports_bf16", lambda _device="CPU": False)
    assert default_precision(verified, "CPU") == ("f32", "this CPU has no bf16")


def test_no_bf16_cpu_records_nothing_and_says_why(trained_run, tmp_path, monkeypatch):
    from unet_edge.export import native_precision
    from unet_edge.export.exporter import ExportOptions, export_model

    monkeypatch.setattr(native_precision, "why_not", lambda device="CPU": "this CPU has no bf16 (AMX or AVX512-BF16)")
    said: list[str] = []
    export_model(trained_run / "best.pt", ExportOptions(out=tmp_path, verify_frames=4), said.append)
    assert BF16_KEY not in load_meta(tmp_path / "best.onnx").raw
    assert any("OpenVINO bf16 not verified: this CPU has no bf16" in line for line in said)


def test_without_openvino_the_check_is_skipped_with_a_reason(monkeypatch):
    """make demo installs no OpenVINO: the export must go on (this once ended the demo)."""
    from unet_edge.core.errors import MissingDependencyError
    from unet_edge.export import native_precision
    from unet_edge.runtime.runners import openvino as ov_module

    def missing(_device="CPU"):
        raise MissingDependencyError("openvino", "openvino")

    monkeypatch.setattr(ov_module, "supports_bf16", missing)
    assert native_precision.why_not() == "OpenVINO is not installed (the 'openvino' extra)"
