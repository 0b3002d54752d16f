"""A failing export never replaces a verified artifact: everything is written aside and put in place
only once every stage asked for has passed; an export that fails late leaves the earlier artifact,
sidecar and report byte-identical and nothing new (but a missed INT8 graph's ``.rejected.onnx``)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from unet_edge.core.errors import ExportError, Int8Rejected
from unet_edge.export.staging import PREFIX, Staging


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def earlier(trained_run, model, tmp_path) -> Path:
    """A run folder: best.pt and its verified export best.onnx (sidecar, report)."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy2(trained_run / "best.pt", run / "best.pt")
    for f in model.parent.glob("best.onnx*"):
        shutil.copy2(f, run / f.name)
    assert {"best.onnx", "best.onnx.json", "best.onnx.report.json"} <= set(_files(run))
    return run


def test_a_late_failure_leaves_the_earlier_export_as_it_was(earlier, monkeypatch):
    from unet_edge.export import exporter

    def fail(self, _passed):  # the last stage, after every artifact, sidecar and report is written
        written = sorted(p.name for p in self.out.iterdir())
        raise ExportError(f"provoked after writing {written}")

    before = _files(earlier)
    monkeypatch.setattr(exporter._Run, "verify_bf16", fail)
    opts = exporter.ExportOptions(fp16=True, out=earlier, verify_frames=2)
    with pytest.raises(ExportError, match=r"provoked after writing .*best\.fp16\.onnx"):
        exporter.export_model(earlier / "best.pt", opts, lambda _m: None)
    assert _files(earlier) == before  # byte-identical, no best.fp16.onnx, no staging folder left


def test_a_success_replaces_the_earlier_export_and_a_new_out_folder_is_removed_on_failure(earlier, monkeypatch):
    from unet_edge.export import exporter

    inode = (earlier / "best.onnx.json").stat().st_ino
    lines: list[str] = []
    result = exporter.export_model(earlier / "best.pt", exporter.ExportOptions(out=earlier, verify=False),
                                   lines.append)
    assert f"wrote {earlier / 'best.onnx'} (" in "\n".join(lines) and PREFIX not in "\n".join(lines)
    assert result.artifacts == [earlier / "best.onnx"] and list(result.reports) == [str(earlier / "best.onnx")]
    assert (earlier / "best.onnx.json").stat().st_ino != inode  # put in place by a rename
    assert not [p for p in earlier.iterdir() if p.name.startswith(PREFIX)]
    monkeypatch.setattr(exporter, "write_meta", _raise)
    fresh = earlier / "new" / "deeper"
    with pytest.raises(ExportError):
        exporter.export_model(earlier / "best.pt", exporter.ExportOptions(out=fresh, verify=False), lambda _m: None)
    assert not (earlier / "new").exists()  # the folders made for it go with it


def _raise(*_a, **_k):
    raise ExportError("provoked")


@pytest.mark.slow
def test_a_rejected_int8_graph_is_put_in_place_and_nothing_else(earlier, synth_dir):
    """INT8 held to 100% pixel agreement misses in a 1-second search: only its .rejected.onnx, sidecar and
    report are put in place; the earlier FP32 artifact stays as it was."""
    from unet_edge.export.exporter import ExportOptions, export_model

    before = _files(earlier)
    opts = ExportOptions(int8=True, int8_target="cpu", calib=str(synth_dir / "images"), calib_frames=16,
                         calib_method="minmax", min_agreement=1.0, int8_search_minutes=0.02, out=earlier,
                         verify_frames=4, build=False)
    with pytest.raises(Int8Rejected) as miss:
        export_model(earlier / "best.pt", opts, lambda _m: None)
    rejected = "best.int8-cpu.rejected.onnx"
    assert miss.value.path == earlier / rejected and rejected in str(miss.value)
    after = _files(earlier)
    assert set(after) - set(before) == {rejected, f"{rejected}.json", f"{rejected}.report.json"}
    assert {k: after[k] for k in before} == before


def test_staging_moves_sidecars_before_artifacts_and_keeps_a_filter(tmp_path):
    out = tmp_path / "out"
    with Staging(out) as staging:
        for name in ("a.onnx", "a.onnx.json", "a.rejected.onnx"):
            (staging.dir / name).write_text(name)
        assert staging.final(staging.dir / "a.onnx") == out / "a.onnx"
        moved = staging.publish(lambda p: not p.name.startswith("a.rejected"))
    assert [p.name for p in moved] == ["a.onnx.json", "a.onnx"]
    assert sorted(p.name for p in out.iterdir()) == ["a.onnx", "a.onnx.json"]
