from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_run, synth_dir):
    """FP32 + FP16 + INT8 (TensorRT flavour) exports of the session's trained model."""
    from unet_edge.export.exporter import ExportOptions, export_model

    out = tmp_path_factory.mktemp("export")
    logs: list[str] = []
    result = export_model(trained_run / "best.pt", ExportOptions(
        fp16=True, int8=True, calib=f"folder:{synth_dir}", calib_frames=64, out=out, verify_frames=12), logs.append)
    return out, result, logs
