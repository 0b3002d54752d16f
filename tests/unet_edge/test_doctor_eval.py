"""doctor on this machine, and eval agreeing between a checkpoint and its ONNX."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unet_edge.doctor import checks, report


def test_doctor_reports_this_machine_and_the_missing_pieces():
    items = {c.name: c for c in checks()}
    for name in ("python", "gpu", "tensorrt", "onnxruntime", "opencv", "cameras", "disk"):
        assert name in items
    assert items["python"].status == "ok"
    assert "providers" in items["onnxruntime"].detail and "CPUExecutionProvider" in items["onnxruntime"].detail
    assert "FFMPEG" in items["opencv"].detail and "GStreamer" in items["opencv"].detail
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        assert "unet-edge[trt]" in items["tensorrt"].fix or "libnvinfer" in items["tensorrt"].fix
    text = report(list(items.values()))
    assert "fix:" in text
    # what leaves the box and what quantizes: each says whether it can run here, or what to install
    for name, missing_fix in (("rtsp out", "gir1.2-gst-rtsp-server-1.0"), ("int8 openvino", "unet-edge[nncf]"),
                              ("ros2 bags", "unet-edge[ros]")):
        assert items[name].status == "ok" or missing_fix in items[name].fix, (name, items[name])


def test_doctor_json_from_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "unet_edge", "doctor", "--json"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {c["name"] for c in data["checks"]} >= {"python", "onnxruntime", "opencv"}
    assert data["system"]["cpu"]["cores"] >= 1


@pytest.mark.slow
def test_eval_agrees_between_checkpoint_and_onnx(trained_run, synth_dir, tmp_path):
    from unet_edge.evaluate import EvalConfig, evaluate_path
    from unet_edge.export.exporter import ExportOptions, export_model

    export_model(trained_run / "best.pt", ExportOptions(out=tmp_path, verify=False), lambda _m: None)
    a = evaluate_path(EvalConfig(trained_run / "best.pt", synth_dir, "folder", "val", None, None, 0, None))
    b = evaluate_path(EvalConfig(tmp_path / "best.onnx", synth_dir, "folder", "val", None, tmp_path / "v.png", 3,
                                 tmp_path / "e.json"))
    assert abs(a["scores"]["miou"] - b["scores"]["miou"]) < 0.001  # within 0.1 mIoU point
    assert b["backend"] == "onnxruntime" and (tmp_path / "v.png").is_file()
    saved = json.loads((tmp_path / "e.json").read_text())
    assert len(saved["confusion"]) == 11 and saved["scores"]["iou"]["Road"] is not None


def test_eval_save_masks_writes_the_scored_predictions_named_as_the_images(model, synth_dir, tmp_path):
    import numpy as np

    Image = pytest.importorskip("PIL.Image", reason="Pillow reads the PNGs back (the dev extra)")
    from unet_edge.data import open_dataset
    from unet_edge.evaluate import EvalConfig, evaluate_path
    from unet_edge.metrics import confusion, scores

    out = tmp_path / "labels"
    report = evaluate_path(EvalConfig(model, synth_dir, "folder", "val", save_masks=out))
    ds = open_dataset("folder", synth_dir, "val")
    cm = np.zeros((11, 11), np.int64)
    for (image, _), i in zip(ds.pairs, range(len(ds))):
        pred = np.array(Image.open(out / f"{image.stem}.png"))
        cm += confusion(pred, ds[i][1], 11)
    assert abs(scores(cm).miou - report["scores"]["miou"]) < 1e-9  # the very predictions that were scored
    lines = (out / "index.jsonl").read_text().splitlines()
    assert len(lines) == len(ds) and json.loads(lines[0])["file"] == f"{ds.pairs[0][0].stem}.png"
