"""doctor on this machine, and eval agreeing between a checkpoint and its ONNX."""

from __future__ import annotations

import json
import os
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


# A system's cv2 (JetPack's, Debian's python3-opencv: no pip metadata) beside the numpy it was built for, as
# they lie in dist-packages; on PYTHONPATH, this venv's own numpy is the one that imports, as in a
# --system-site-packages venv where pip put another numpy.
BROKEN_CV2 = ("import sys\n"
              "sys.stderr.write('A module that was compiled using NumPy 1.x cannot be run in NumPy 2.2.6\\n"
              "Traceback (most recent call last):\\n')\n"
              "raise ImportError('numpy.core.multiarray failed to import')\n")
WORKING_CV2 = "__version__ = '4.5.4'\n\ndef getBuildInformation():\n    return '  GStreamer: YES\\n  FFMPEG: YES\\n'\n"


def _numpy_meta(root, version: str):
    meta = root / f"numpy-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: numpy\nVersion: {version}\n")
    return root


def _system_site(root, cv2_source: str, numpy_version: str | None):
    (root / "cv2").mkdir(parents=True)
    (root / "cv2" / "__init__.py").write_text(cv2_source)
    return _numpy_meta(root, numpy_version) if numpy_version else root


def _python(site, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env={**clean, "PYTHONPATH": str(site), **env})


def test_a_system_cv2_under_another_numpy_is_one_line_with_its_repair(tmp_path):
    site = _system_site(tmp_path / "dist-packages", BROKEN_CV2, "1.21.5")
    for args in (["doctor"], ["run", "--model", "camvid-lite0", "--source", "synth://", "--max-frames", "2"]):
        proc = _python(site, "-m", "unet_edge", *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr  # numpy's own traceback held back
        assert lines[0].startswith("unet-edge: error: OpenCV (cv2) does not import: the system cv2")
        assert "built for the system's numpy 1.21.5" in lines[0] and f"{sys.executable} -m pip uninstall -y numpy" \
            in lines[0], lines[0]


def test_a_cv2_that_fails_for_another_reason_is_one_line_without_a_numpy_repair(tmp_path):
    site = _system_site(tmp_path / "dist-packages", "raise ImportError('libGL.so.1: cannot open shared object')\n",
                        "1.21.5")
    proc = _python(site, "-m", "unet_edge", "doctor")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "unet-edge: error: OpenCV (cv2) does not import: libGL.so.1: cannot open shared object"], proc.stderr


def _numpy_check(site, **env: str) -> dict:
    probe = ("import dataclasses, json; from unet_edge.doctor import _numpy; "
             "print(json.dumps(dataclasses.asdict(_numpy())))")
    proc = _python(site, "-c", probe, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_doctor_warns_when_a_working_system_cv2_sees_another_numpy(tmp_path):
    import numpy

    check = _numpy_check(_system_site(tmp_path / "dist-packages", WORKING_CV2, "1.21.5"))
    assert check["status"] == "warn" and "built for the system's numpy 1.21.5" in check["detail"]
    assert f"hidden by numpy {numpy.__version__}" in check["detail"] and check["fix"].endswith("pip uninstall -y numpy")


def test_jetpacks_layout_cv2_apart_from_the_numpy_it_was_built_for(tmp_path):
    """JetPack's cv2 is in /usr/lib/python3.10/dist-packages, numpy in /usr/lib/python3/dist-packages."""
    cv2_site = _system_site(tmp_path / "python3.10", WORKING_CV2, None)
    numpy_site = _numpy_meta(tmp_path / "python3", "1.21.5")
    check = _numpy_check(f"{cv2_site}{os.pathsep}{numpy_site}")
    assert check["status"] == "warn" and f"built for the system's numpy 1.21.5 ({numpy_site})" in check["detail"], check


def test_doctor_prints_the_pin_until_pip_holds_the_system_numpy(tmp_path):
    import numpy

    site = _system_site(tmp_path / "dist-packages", WORKING_CV2, numpy.__version__)  # the same numpy: no mismatch
    check = _numpy_check(site)
    if sys.prefix == sys.base_prefix:
        pytest.skip("not in a venv: pip's constraint is advised for venvs only")
    assert check["status"] == "info" and "pip config --site set install.constraint" in check["fix"], check
    assert f"numpy=={numpy.__version__}" in check["fix"]
    pins = tmp_path / "pins.txt"
    pins.write_text(f"numpy=={numpy.__version__}\n")
    assert _numpy_check(site, PIP_CONSTRAINT=str(pins))["status"] == "ok"


def test_a_pip_opencv_is_not_held_to_a_numpy_elsewhere(tmp_path):
    site = _system_site(tmp_path / "dist-packages", WORKING_CV2, "1.21.5")
    wheel = site / "opencv_python_headless-4.5.4.dist-info"
    wheel.mkdir()
    (wheel / "METADATA").write_text("Metadata-Version: 2.1\nName: opencv-python-headless\nVersion: 4.5.4\n")
    assert _numpy_check(site)["status"] == "ok"


@pytest.mark.slow
def test_eval_agrees_between_checkpoint_and_onnx(trained_run, synth_dir, tmp_path):
    from unet_edge.evaluate import EvalConfig, evaluate_path
    from unet_edge.export.exporter import ExportOptions, export_model

    export_model(trained_run / "best.pt", ExportOptions(out=tmp_path, verify=False), lambda _m: None)
    a = evaluate_path(EvalConfig(trained_run / "best.pt", synth_dir, "folder", "val"))
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
