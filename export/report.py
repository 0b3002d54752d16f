"""What export measured, beside each artifact: ``<artifact>.report.json``.

The sidecar (``<artifact>.json``, and the ONNX ``metadata_props``) is the runtime's contract: only what
running or building the artifact needs. The report holds how export got there: the precision gate's
row, the FP16 layers' drift, INT8's calibration, search steps, peak memory and speed. Nothing in the
runtime reads it; ``unet-edge export --json`` returns every report with the artifacts.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from unet_edge.core.io import write_json_atomic


def report_path(artifact: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.report.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".report.json")


def read_report(artifact: str | Path) -> dict:
    """The report export wrote beside ``artifact``."""
    return json.loads(report_path(artifact).read_text())


def summary(precision: str, part: dict, row: dict | None, export_seconds: float | None) -> dict:
    """The report's headline: flavour, criterion, agreement, mIoU change, worst class and its change,
    float layers and their MACs share (INT8), and the export's seconds up to the report."""
    row = row or {}
    return {"flavour": precision, "float_layers": None, "float_macs_share": None, **part.get("summary", {}),
            "criterion": row.get("criterion"), "passed": row.get("passed"), "agreement": row.get("agreement"),
            "miou_change": row.get("miou_delta"), "worst_class": row.get("worst_class"),
            "worst_class_change": row.get("worst_class_delta"),
            "export_seconds": None if export_seconds is None else round(export_seconds, 1)}


def write_reports(artifacts: Iterable[tuple[Path, str]], parts: Mapping[Path, dict],
                  rows: Iterable[dict], export_seconds: float | None = None,
                  reference: str | None = None, contract: dict | None = None,
                  stage_seconds: dict | None = None) -> dict[str, dict]:
    """Write each artifact's report (atomically): its precision, its :func:`summary`, what its stage
    measured (``parts``), its precision-gate row (``rows``, None when not verified) and the ``reference``
    it was checked against, the model's ``contract`` with where each value came from, and the export's
    wall seconds per stage. Returns them by artifact path."""
    by_name = {row["artifact"]: row for row in rows}
    reports = {}
    for path, precision in artifacts:
        part = dict(parts.get(path, {}))
        head = summary(precision, part, by_name.get(path.name), export_seconds)
        part.pop("summary", None)
        row = by_name.get(path.name)
        data = {"artifact": path.name, "precision": precision, "summary": head, **part, "verification": row,
                "reference": reference if row is not None else None, "contract": contract,
                "stage_seconds": stage_seconds}
        write_json_atomic(report_path(path), data)
        reports[str(path)] = data
    return reports


class StageTimes:
    """Wall seconds of each export stage (``with stages("fp32"): ...``), printed and kept in the reports."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        t = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - t, 1)

    def record(self, measured: dict) -> dict:
        """The stages, with INT8's split into its statistics (calibration) and float-layer search."""
        search = next((m["int8"].get("search") for m in measured.values() if "int8" in m and m["int8"].get("search")),
                      None)
        out = {}
        for name, seconds in self.seconds.items():
            out[name] = seconds
            if name == "int8" and search:
                out["int8_statistics"] = search.get("calibration_seconds")
                out["int8_search"] = search["seconds"]  # its budget starts after the calibration
        return out

    def line(self, measured: dict) -> str:
        parts = [f"{k} {v:g} s" for k, v in self.record(measured).items() if v is not None]
        return f"stage times: {', '.join(parts)}"
