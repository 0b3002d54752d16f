from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model(exported_fp32):
    return exported_fp32


@pytest.fixture(scope="session")
def exported_fp32(tmp_path_factory, trained_run):
    """A plain FP32 export of the session model (fast; no INT8 calibration)."""
    from unet_edge.export.exporter import ExportOptions, export_checkpoint

    out = tmp_path_factory.mktemp("rt-model")
    export_checkpoint(trained_run / "best.pt", ExportOptions(out=out, verify=False), lambda _m: None)
    return out / "best.onnx"
