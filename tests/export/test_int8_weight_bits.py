"""Where the CPU's INT8 kernels saturate 8-bit weights (x86 without VNNI), export quantizes to 7 bits
and records it as ``int8.weight_bits``; the runtime reads that field, so the file export made there
runs there without the saturation warning, and export's log and the warning name the same field."""

from __future__ import annotations

import numpy as np
import pytest

from unet_edge.core.artifact import load_meta


@pytest.mark.slow
@pytest.mark.parametrize("saturate", [True, False])
def test_the_runtime_reads_the_weight_bits_export_wrote(trained_run, synth_dir, tmp_path, monkeypatch, capsys,
                                                        saturate):
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.runtime.runners import int8_probe
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    # the probe as on a Zen 2 EPYC (True) or a VNNI CPU (False), for the export and the runtime alike
    monkeypatch.setattr("unet_edge.export.int8.saturation.int8_kernels_saturate", lambda: saturate)
    monkeypatch.setattr(int8_probe, "int8_kernels_saturate", lambda: saturate)
    monkeypatch.setattr(int8_probe, "_warned", set())
    lines: list[str] = []
    opts = ExportOptions(int8=True, int8_target="cpu", calib=str(synth_dir / "images"), calib_frames=16,
                         calib_method="minmax", out=tmp_path, verify=False, build=False)
    export_model(trained_run / "best.pt", opts, lines.append)
    capsys.readouterr()  # calibration's own advice (16 frames)
    meta = load_meta(tmp_path / "best.int8-cpu.onnx")
    assert meta.raw["int8"]["weight_bits"] == int8_probe.weight_bits(meta) == (7 if saturate else 8)
    assert any("int8.weight_bits 7" in line for line in lines) is saturate
    with OnnxRuntimeRunner(tmp_path / "best.int8-cpu.onnx") as runner:
        assert runner.int8_saturates is False
        runner.infer(np.zeros((*meta.input_size, 3), np.uint8))
    assert "warning" not in capsys.readouterr().err
    # the same file taken to a machine whose kernels saturate: warned about only if it has 8-bit weights
    monkeypatch.setattr(int8_probe, "int8_kernels_saturate", lambda: True)
    assert int8_probe.warn_if_saturating(meta) is (not saturate)
    if not saturate:
        assert "int8.weight_bits" in capsys.readouterr().err
