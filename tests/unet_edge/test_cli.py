"""The command line: torch-free help, one-line errors, and the commands working end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unet_edge.cli import one_line
from unet_edge.core.errors import DataError


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unet_edge", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom unet_edge.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]\n"
            "assert not heavy, heavy\nprint('OK')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and proc.stdout.strip().endswith("OK")


def test_user_errors_are_one_line_with_exit_code_1(tmp_path):
    proc = run("train", "--data", str(tmp_path / "missing"))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"unet-edge: error: {tmp_path / 'missing'}: dataset folder not found"
    assert "Traceback" not in proc.stderr


def test_bad_data_inside_a_loader_worker_is_still_one_line(tmp_path, synth_dir):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    import cv2
    import numpy as np

    cv2.imwrite(str(data / "masks" / "000001.png"), np.full((10, 10), 3, np.uint8))
    proc = run("train", "--data", str(data), "--dataset", "folder", "--arch", "unet", "--width", "4",
               "--size", "32x48", "--epochs", "1", "--batch", "160", "--workers", "1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "000001.png: mask is 10x10 but image 000001.png is 128x96" in err[0], err


def test_one_line_strips_worker_tracebacks():
    exc = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback ...\n"
                    "unet_edge.core.errors.DataError: x.png: bad")
    assert one_line(exc) == "x.png: bad"


@pytest.mark.slow
def test_synth_then_eval_from_the_command_line(tmp_path, trained_run):
    data = tmp_path / "scenes"
    proc = run("synth", str(data), "--frames", "24", "--size", "64x96", "--clip-frames", "0", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "eval.json"
    proc = run("eval", "--model", str(trained_run / "best.pt"), "--data", str(data), "--dataset", "folder",
               "--split", "all", "--save-viz", str(tmp_path / "grid.png"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "mIoU" in proc.stdout and (tmp_path / "grid.png").is_file()
    report = json.loads(out.read_text())
    assert report["frames"] == 24 and len(report["confusion"]) == 11


def test_eval_refuses_a_dataset_with_other_classes(tmp_path, trained_run):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.zeros((8, 8), np.uint8))
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["bg", "lane"]}))
    proc = run("eval", "--model", str(trained_run / "best.pt"), "--data", str(tmp_path), "--dataset", "folder",
               "--split", "all")
    assert proc.returncode == 1 and "do not match the classes of" in proc.stderr


def test_only_live_spellings_are_shown_or_accepted(trained_run, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    out = tmp_path
    export_model(trained_run / "best.pt", ExportOptions(out=out, verify=False), lambda _m: None)
    helps = {cmd: run(cmd, "--help").stdout for cmd in ("export", "build", "run", "bench")}
    assert "--int8-target" in helps["export"] and "--target " not in helps["export"]
    assert "--precision" in helps["build"] and "--fp16" not in helps["build"]
    assert "--provider" in helps["run"] and "--backend" not in helps["run"]
    assert "--provider" in helps["bench"]
    # 0.1.0 is unreleased: the spellings of its drafts are gone, not hidden
    for args in (("build", str(out / "best.onnx"), "--int8"), ("build", str(out / "best.onnx"), "--fp32"),
                 ("run", "--model", str(out / "best.onnx"), "--source", "synth://", "--backend", "tensorrt")):
        proc = run(*args)
        assert proc.returncode == 2 and "No such option" in proc.stderr, proc.stderr
    proc = run("build", str(out / "best.onnx"), "--precision", "int4")
    assert proc.returncode == 1 and "--precision int4: choose one of" in proc.stderr
    proc = run("run", "--model", str(out / "best.onnx"), "--source", "synth://?size=64x96", "--max-frames", "2",
               "--provider", "cpu")
    assert proc.returncode == 0, proc.stderr
