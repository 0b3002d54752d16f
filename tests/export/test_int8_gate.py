"""INT8 is judged by accuracy where the verification frames have labels: an accuracy-neutral graph
passes below 99% agreement, a graph that loses a class is refused and kept as ``.rejected.onnx``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from unet_edge.core.errors import Int8Rejected
from unet_edge.export.criterion import Criterion, Gate, Score, Scorer
from unet_edge.export.thresholds import DEFAULT_AGREEMENT_FLOOR, DEFAULT_MIN_AGREEMENT
from unet_edge.export.verify import compare

CLASSES = ["Sky", "Road", "Pole"]


def _scene():
    """Labels of 4 frames (sky over road, a pole), FP32 masks that miss part of the pole and the
    horizon, and masks that fix 2% of what FP32 got wrong: accuracy-neutral, 98% agreement."""
    labels, ref = [], []
    for _ in range(4):
        lab = np.zeros((50, 100), np.uint8)
        lab[25:] = 1
        lab[10:45, 48:52] = 2
        fp32 = lab.copy()
        fp32[24:27] = 0  # the horizon, a little off
        fp32[10:20, 48:52] = 0
        labels.append(lab)
        ref.append(fp32)
    return labels, ref


def test_accuracy_is_the_criterion_with_labels_and_agreement_a_floor():
    labels, ref = _scene()
    fixed = []
    for lab, m in zip(labels, ref):
        out = m.copy()
        out[26, :] = lab[26, :]  # 2% of the pixels, each now right
        fixed.append(out)
    row = compare("m.int8.onnx", "int8", fixed, ref, labels, CLASSES, Gate())
    assert row.criterion == "accuracy" and row.threshold == DEFAULT_AGREEMENT_FLOOR
    assert DEFAULT_AGREEMENT_FLOOR < row.agreement < DEFAULT_MIN_AGREEMENT and row.passed
    assert row.miou_delta > 0 and row.worst_class is not None
    unlabelled = compare("m.int8.onnx", "int8", fixed, ref, None, CLASSES, Gate())
    assert unlabelled.criterion == "agreement" and unlabelled.threshold == DEFAULT_MIN_AGREEMENT
    assert not unlabelled.passed  # without labels, agreement alone decides, at 99%


def test_a_class_lost_fails_the_gate_with_the_miou_limit_out_of_the_way():
    labels, ref = _scene()
    no_pole = [np.where(m == 2, 0, m).astype(np.uint8) for m in ref]
    row = compare("m.int8.onnx", "int8", no_pole, ref, labels, CLASSES, Gate(max_miou_drop=1.0))
    assert row.worst_class == "Pole" and row.worst_class_delta < -0.01 and "Pole" in row.drops
    assert not row.passed  # the mIoU limit is out of the way: the class limit refuses it
    assert Gate(max_miou_drop=1.0, max_class_drop=1.0).criterion("int8", True).meets(row.score)
    fp16 = compare("m.fp16.onnx", "fp16", no_pole, ref, labels, CLASSES, Gate(max_miou_drop=1.0))
    assert fp16.criterion == "accuracy" and not fp16.passed  # FP16 is judged the same way


def test_the_scorer_scores_a_subset_of_frames_as_the_whole_set_would():
    labels, ref = _scene()
    scorer = Scorer(ref, labels, CLASSES)
    outs = [np.where(m == 2, 0, m).astype(np.uint8) for m in ref]
    whole, part = scorer.score(outs), scorer.score(outs[1:3], [1, 2])
    assert whole == part  # the frames are alike: the same score
    c = Criterion(0.97, 0.005)
    assert not c.meets(whole) and c.slacks(whole)["class"] < 0 and c.value(whole) < c.value(Score(0.99, 0.0, {}))
    assert c.says(whole).endswith("worst class Pole -62.86 pts")


def _erasing(monkeypatch, erase: int | None = None, fix: dict | None = None):
    """INT8 graphs' masks (in the search and the gate alike) with class ``erase`` painted over, or with
    up to 2% of the pixels FP32 gets wrong set to their label (``fix``: frame bytes -> label)."""
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

    infer = OnnxRuntimeRunner.infer

    def patched(self, frame):
        mask = infer(self, frame)
        if ".int8" not in self.path.name and ".int8-search-" not in str(self.path):  # the search's trials too
            return mask
        if erase is not None:
            return np.where(mask == erase, (erase + 1) % 11, mask).astype(np.uint8)
        lab = fix.get(frame.tobytes())
        if lab is None:  # a frame timed, not verified
            return mask
        lab = cv2.resize(lab, mask.shape[::-1], interpolation=cv2.INTER_NEAREST)  # labels keep their size
        wrong = np.flatnonzero(mask.ravel() != lab.ravel())[: int(0.02 * mask.size)]
        out = mask.copy().ravel()
        out[wrong] = lab.ravel()[wrong]
        return out.reshape(mask.shape)

    monkeypatch.setattr(OnnxRuntimeRunner, "infer", patched)


def _opts(tmp_path, synth_dir, **kw):
    from unet_edge.export.exporter import ExportOptions

    return ExportOptions(int8=True, int8_target="cpu", calib=f"folder:{synth_dir}", calib_frames=16,
                         calib_method="minmax", out=tmp_path, verify_frames=8, build=False, **kw)


@pytest.mark.slow
def test_an_accuracy_neutral_int8_graph_below_99_percent_agreement_is_accepted(trained_run, synth_dir, tmp_path,
                                                                               monkeypatch):
    from unet_edge.export.exporter import export_model
    from unet_edge.export.report import read_report
    from unet_edge.export.verify import verification_set
    from unet_edge.models.checkpoint import load_checkpoint

    names = load_checkpoint(trained_run / "best.pt").info.names
    gate = verification_set(_opts(tmp_path, synth_dir), (64, 96), names, lambda _m: None)  # what export verifies on
    assert gate.labels is not None and ("held out" in gate.source or "val split" in gate.source)
    _erasing(monkeypatch, fix={f.tobytes(): lab for f, lab in zip(gate.frames, gate.labels)})
    # As SegFormer's INT8 graph measured on an EPYC: slower than FP32, which the user is told.
    monkeypatch.setattr("unet_edge.bench.speed.interleaved_ms", lambda *_a, **_k: (10.0, 12.0))
    lines: list[str] = []
    result = export_model(trained_run / "best.pt", _opts(tmp_path, synth_dir), lines.append)
    assert any(m.startswith("warning: the INT8 graph runs slower than FP32") and "0.83x" in m for m in lines)
    row = next(r for r in result.verification if r["precision"] == "int8")
    assert row["criterion"] == "accuracy" and row["passed"]
    assert DEFAULT_AGREEMENT_FLOOR <= row["agreement"] < DEFAULT_MIN_AGREEMENT
    summary = read_report(tmp_path / "best.int8-cpu.onnx")["summary"]
    assert summary["flavour"] == "int8-cpu" and summary["criterion"] == "accuracy"
    assert summary["agreement"] == row["agreement"] and summary["miou_change"] == row["miou_delta"]
    assert summary["worst_class"] == row["worst_class"] and summary["export_seconds"] > 0
    assert summary["float_layers"] is not None and 0 <= summary["float_macs_share"] < 1
    assert not (tmp_path / "best.int8-cpu.rejected.onnx").exists()


@pytest.mark.slow
def test_an_int8_graph_that_loses_a_class_is_rejected_and_kept_apart(trained_run, synth_dir, tmp_path, monkeypatch):
    from unet_edge.export.exporter import export_model
    from unet_edge.export.report import read_report

    road = 3  # CamVid's Road: most of every synthetic frame
    _erasing(monkeypatch, erase=road)
    with pytest.raises(Int8Rejected) as err:
        export_model(trained_run / "best.pt", _opts(tmp_path, synth_dir, int8_search_minutes=0.02),
                          lambda _m: None)
    message = str(err.value)
    assert "\n" not in message and "best.int8-cpu.rejected.onnx" in message and "worst class Road" in message
    assert "budget" in message and "--int8-search-minutes" in message
    assert not (tmp_path / "best.int8-cpu.onnx").exists()
    kept = tmp_path / "best.int8-cpu.rejected.onnx"
    assert kept.is_file() and (tmp_path / "best.int8-cpu.rejected.onnx.json").is_file()
    report = read_report(kept)
    assert report["summary"]["worst_class"] == "Road" and report["summary"]["passed"] is False
    assert report["int8"]["search"]["met"] is False and report["int8"]["search"]["exhausted"]
    # a failed export puts nothing else in place: the FP32 graph it verified is not published either
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name, f"{kept.name}.json", f"{kept.name}.report.json"]
