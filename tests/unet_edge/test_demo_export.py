"""The demo's export step: an INT8 that misses its gate on a model trained for minutes does not stop
the demo, which exports FP32 and FP16 again; a miss of FP32 or FP16 still does."""

from __future__ import annotations

import pytest

from unet_edge import demo
from unet_edge.core.errors import GateMissed, Int8Rejected


def _fake_export(fail):
    calls = []

    def export_model(ckpt, opts, log):
        calls.append(opts)
        if len(calls) == 1 and fail is not None:
            raise fail
    return export_model, calls


@pytest.mark.parametrize("miss", [GateMissed("best.int8-cpu.onnx loses 1.20 IoU points of Bicyclist", "int8"),
                                  Int8Rejected("INT8 missed the criterion", None, {})])
def test_an_int8_miss_goes_on_with_fp32_and_fp16(monkeypatch, tmp_path, miss):
    fake, calls = _fake_export(miss)
    monkeypatch.setattr("unet_edge.export.exporter.export_model", fake)
    lines = []
    demo.export_verified(tmp_path / "best.pt", tmp_path / "export", "folder:data", lines.append)
    assert [o.int8 for o in calls] == [True, False] and all(o.fp16 and o.verify_data for o in calls)
    assert any("INT8 missed its precision gate" in line for line in lines)


def test_an_fp16_miss_still_stops_the_demo(monkeypatch, tmp_path):
    fake, calls = _fake_export(GateMissed("best.fp16.onnx agrees on only 90% of pixels", "fp16"))
    monkeypatch.setattr("unet_edge.export.exporter.export_model", fake)
    with pytest.raises(GateMissed):
        demo.export_verified(tmp_path / "best.pt", tmp_path / "export", "folder:data", lambda _m: None)
    assert len(calls) == 1
