"""Export's plan, checked before its first write (no model is opened here: fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unet_edge.core.errors import ConfigError
from unet_edge.export.bodies import check_size
from unet_edge.export.export_plan import artifact_names, artifact_stem, check_plan
from unet_edge.export.exporter import ExportOptions


def test_a_size_off_the_stride_names_the_option_the_value_and_the_size_above():
    check_size((352, 480), 32, "unet-efficientnet-lite0")
    with pytest.raises(ConfigError, match=r"^--size 70x100: unet-efficientnet-lite0 takes heights and widths in "
                                          r"multiples of 32 \(its stride\); e\.g\. --size 96x128$"):
        check_size((70, 100), 32, "unet-efficientnet-lite0")


def test_an_onnx_model_exported_into_its_own_folder_is_never_overwritten(tmp_path):
    model = tmp_path / "seg.onnx"
    assert artifact_stem(model, tmp_path) == "seg.deploy"
    assert artifact_stem(model, tmp_path / "elsewhere") == "seg"
    assert artifact_stem(tmp_path / "best.pt", tmp_path) == "best"


def test_the_planned_files_hold_every_flavour_and_the_rejected_graph():
    opts = ExportOptions(fp16=True, int8=True, int8_target="cpu", calib="frames")
    assert artifact_names("best", opts) == ["best.onnx", "best.fp16.onnx", "best.int8-cpu.onnx",
                                            "best.int8-cpu.rejected.onnx"]


def test_outputs_are_checked_against_the_inputs_and_each_other(tmp_path):
    model = tmp_path / "best.pt"
    model.write_bytes(b"")
    (tmp_path / "frames").mkdir()
    plan = check_plan(model, ExportOptions(), {"--json": tmp_path / "export.json"})
    assert plan.out == tmp_path and plan.stem == "best"  # the default --out: the MODEL's folder
    # the rejected graph's report is an output too, so --json may not be it
    opts = ExportOptions(int8=True, calib=str(tmp_path / "frames"))
    with pytest.raises(ConfigError, match="would write over each other"):
        check_plan(model, opts, {"--json": tmp_path / "best.int8.rejected.onnx.report.json"})
    with pytest.raises(ConfigError, match="lies inside the input --calib"):
        check_plan(model, ExportOptions(int8=True, calib=f"folder:{tmp_path / 'frames'}", out=tmp_path / "frames"))
    with pytest.raises(ConfigError, match=r"^--calib-frames 0: must be at least 1$"):
        check_plan(model, ExportOptions(int8=True, calib=str(tmp_path / "frames"), calib_frames=0))
    assert not [p for p in Path(tmp_path).iterdir() if p.name not in ("best.pt", "frames")]  # nothing written
