"""The commands an export suggests fit what it wrote and the model's classes."""

from pathlib import Path
from types import SimpleNamespace

from unet_edge.data.classes import CAMVID, carla_classes
from unet_edge.export import next_steps as ns

FILES = [Path("m.onnx"), Path("m.fp16.onnx"), Path("m.int8-cpu.onnx")]


def _reports(speedup: float) -> dict:
    return {"m.int8-cpu.onnx": {"int8": {"speed": {"speedup": speedup}}}}


def test_run_points_at_the_int8_file_only_where_it_passed_and_is_faster():
    rows = [{"artifact": p.name, "passed": True} for p in FILES]
    assert ns.fastest_passed(FILES, rows, _reports(1.8)) == FILES[2]
    assert ns.fastest_passed(FILES, rows, _reports(0.9)) == FILES[0]  # slower here: FP32
    rows[2]["passed"] = False
    assert ns.fastest_passed(FILES, rows, _reports(1.8)) == FILES[0]


def test_eval_is_suggested_on_a_dataset_of_the_models_classes(monkeypatch):
    assert ns.dataset_layout(list(CAMVID.names)) == "camvid"
    assert ns.dataset_layout(list(carla_classes(23).names)) == "carla"
    assert ns.dataset_layout(["road", "car"]) is None
    classes = {"names": list(carla_classes(23).names)}
    monkeypatch.setattr(ns, "load_meta", lambda _p: SimpleNamespace(classes=classes["names"]))
    rows = [{"artifact": p.name, "passed": True} for p in FILES]
    lines = ns.next_steps(FILES, [], rows, _reports(1.8), "camvid:../data")
    assert lines[0].startswith("unet-edge run --model m.int8-cpu.onnx")
    assert any(line.startswith("unet-edge build m.fp16.onnx") for line in lines)
    # CamVid frames were given, but a 23-class model is scored on CARLA-layout data, not on them
    assert lines[-1] == "unet-edge eval --model m.int8-cpu.onnx --data DATA --dataset carla"
    classes["names"] = ["road", "car"]
    assert "--dataset folder" in ns.next_steps(FILES, [], rows, _reports(1.0))[-1]
    classes["names"] = list(CAMVID.names)
    last = ns.next_steps(FILES, [], rows, _reports(1.0), "camvid:../data")[-1]
    assert last.endswith("--data ../data --dataset camvid")
