"""A Keras U-Net through tf2onnx (tests/export/keras/make_fixture.py made it; TensorFlow is not a
dependency): NHWC, RGB in [0, 1], a softmax head. Exported with what the user states, calibrated on
CamVid and verified on the same source's val split, FP32 equals Keras' own masks, FP16 and INT8 pass
the gate, and ``run`` streams a clip through the INT8 artifact."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cli_run import cli
from tests.conftest import CAMVID

HERE = Path(__file__).parent / "keras"
SIZE = (96, 128)

pytestmark = [pytest.mark.camvid, pytest.mark.skipif(not (CAMVID / "train").is_dir(),
                                                      reason=f"CamVid not found at {CAMVID}")]


def _frame(name: str) -> np.ndarray:
    """As make_fixture.py fed Keras: BGR, resized bilinearly to the model's size."""
    return cv2.resize(cv2.imread(str(CAMVID / "train" / name), cv2.IMREAD_COLOR), SIZE[::-1],
                      interpolation=cv2.INTER_LINEAR)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("keras")
    rc, stdout, err = cli("export", str(HERE / "keras_unet.onnx"), "--rgb", "--input-norm", "unit", "--classes",
                          "camvid", "--fp16", "--int8", "--int8-target", "cpu", "--calib", f"camvid:{CAMVID}",
                          "--calib-frames", "32", "--verify-frames", "8", "--int8-search-minutes", "1",
                          "--no-build", "--out", str(out), "--json", str(out / "r.json"))
    assert rc == 0, err
    return out, stdout, json.loads((out / "r.json").read_text())


def test_fp32_equals_keras_and_every_precision_passes_on_the_calibration_source(exported):
    from unet_edge.runtime.runners import open_runner

    out, log, result = exported
    ref = np.load(HERE / "keras_masks.npz")
    with open_runner(out / "keras_unet.onnx", provider="cpu") as runner:
        for name, keras_mask in zip(ref["names"], ref["masks"]):
            assert (runner.infer(_frame(str(name))) == keras_mask).mean() >= 0.999, name
    rows = {r["precision"]: r for r in result["verification"]}
    assert set(rows) == {"fp32", "fp16", "int8"} and all(r["passed"] for r in rows.values())
    assert rows["int8"]["criterion"] == "accuracy"  # CamVid's labels are the model's classes
    assert f"verifying on 8 frames of camvid:{CAMVID} (its val split)" in log
    assert "ends in a Softmax over the classes: read as probabilities" in log
    assert "StatefulPartitionedCall" not in log.split("INT8")[-1]  # float layers as Keras named them


def test_the_printed_contract_is_the_sidecars(exported):
    from unet_edge.models.contract import IOContract

    out, log, _ = exported
    meta = json.loads((out / "keras_unet.onnx.json").read_text())
    contract = IOContract.from_json(meta["contract"])
    assert f"input contract: {contract.describe(SIZE)}" in log
    assert contract.layout == "nhwc" and contract.origin["layout"] == "graph"
    assert contract.origin["color"] == contract.origin["norm"] == "option" and contract.norm == "unit"
    report = json.loads((out / "keras_unet.onnx.report.json").read_text())
    assert report["contract"] == meta["contract"]


def test_run_streams_a_clip_through_the_int8_artifact(exported, tmp_path):
    out, _, _ = exported
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (480, 360))
    for name in sorted(p.name for p in (CAMVID / "val").glob("*.png"))[:8]:
        writer.write(cv2.imread(str(CAMVID / "val" / name)))
    writer.release()
    rc, _, err = cli("run", "--model", str(out / "keras_unet.int8-cpu.onnx"), "--source", str(clip), "--save",
                     str(tmp_path / "out.mp4"), "--provider", "cpu", "--no-hud")
    assert rc == 0, err
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    cap.release()


def test_keras_files_are_one_line_naming_tf2onnx(tmp_path):
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    (tmp_path / "unet.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    import zipfile

    with zipfile.ZipFile(tmp_path / "unet.keras", "w") as z:
        z.writestr("config.json", "{}")
    for path, want in ((saved, "--saved-model"), (tmp_path / "unet.h5", "keras.saving.load_model"),
                       (tmp_path / "unet.keras", "keras.saving.load_model")):
        for args in (("export", str(path)), ("eval", "--model", str(path), "--data", str(tmp_path)),
                     ("run", "--model", str(path), "--source", "synth://")):
            rc, _, err = cli(*args)
            assert rc == 1 and "python -m tf2onnx.convert" in err and want in err, (args, err)
            assert err.strip().count("\n") == 0


def test_what_the_graph_cannot_show_is_required_and_contradictions_are_refused(tmp_path):
    base = ("export", str(HERE / "keras_unet.onnx"), "--classes", "camvid", "--out", str(tmp_path), "--no-verify",
            "--no-build")
    for given, want in (((), "--rgb or --bgr"), (("--rgb",), "--input-norm imagenet|unit|signed|none"),
                        (("--input-norm", "unit"), "--rgb or --bgr"),
                        (("--rgb", "--input-norm", "unit", "--input-layout", "nchw"), "is NHWC"),
                        (("--rgb", "--input-norm", "unit", "--size", "128x128"), "fixes its input height at 96"),
                        (("--rgb", "--input-norm", "unit", "--classes", "cityscapes"), "but --classes gives 19")):
        rc, _, err = cli(*base, *given)
        assert rc == 1 and want in err and err.startswith("unet-edge: error:"), (given, err)
    assert not list(tmp_path.iterdir())  # nothing half-written
