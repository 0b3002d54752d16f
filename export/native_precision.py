"""OpenVINO at its native precision, verified by the gate.

On a CPU that computes bf16 natively (AMX, AVX512-BF16) OpenVINO runs a float graph's layers in
bf16 about twice as fast as in f32 (benchmarks/README.md, "INT8 routes"). bf16 keeps 8 bits of
mantissa, fewer than FP16's 11, so the export does not assume it is harmless: it runs each artifact
OpenVINO would run (the FP32 file; the openvino INT8 file's float parts) in bf16 on the gate's frames,
judges the masks by the criterion of FP16 (for FP32) or of INT8, and records a pass as
``openvino_bf16: verified`` in the artifact's contract (its ``metadata_props`` and sidecar). The
OpenVINO runner then defaults to bf16 for it on such a CPU; ``--precision f32`` stays explicit.
The row never fails the export: a miss only leaves the artifact at f32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from unet_edge.runtime.runners.openvino import BF16_KEY

JUDGED_AS = {"fp32": "fp16", "int8": "int8"}  # bf16 of a float graph is a reduced precision, as FP16 is


def why_not(device: str = "CPU") -> str | None:
    """Why OpenVINO's bf16 cannot be verified here, or None when it can."""
    from unet_edge.core.errors import MissingDependencyError
    from unet_edge.runtime.runners.openvino import supports_bf16

    try:
        return None if supports_bf16(device) else f"this {device} has no bf16 (AMX or AVX512-BF16)"
    except MissingDependencyError:
        return "OpenVINO is not installed (the 'openvino' extra)"


def checkable(artifacts: list[tuple[Path, str]], log: Callable[[str], None]) -> list[tuple[Path, str]]:
    """The artifacts whose bf16 execution can be verified here: those OpenVINO runs with float layers
    it would compute in bf16 (FP32 files and the openvino INT8 flavour; the other flavours' QDQ
    placement is made for ONNX Runtime or TensorRT), where OpenVINO and a bf16 CPU are present (else
    none, and ``log`` says why)."""
    from unet_edge.core.artifact import load_meta

    found = [(p, prec) for p, prec in artifacts
             if prec == "fp32" or (prec == "int8" and load_meta(p).int8_target == "openvino")]
    reason = why_not() if found else None
    if reason:
        log(f"OpenVINO bf16 not verified: {reason}; --provider openvino runs these files at f32")
        return []
    return found


def bf16_rows(artifacts: list[tuple[Path, str]], frames: list[np.ndarray], ref: list[np.ndarray],
              labels: list | None, classes: list[str], gate) -> list:
    """The gate's rows of each of ``artifacts`` (:func:`checkable`) run by OpenVINO in bf16 against the
    FP32 masks ``ref``."""
    from unet_edge.export.verify import compare
    from unet_edge.runtime.runners.openvino import OpenVINORunner

    rows = []
    for path, precision in artifacts:
        with OpenVINORunner(path, precision="bf16") as runner:
            outs = [runner.infer(f) for f in frames]
            if runner.meta.outputs_logits:
                outs = [o.argmax(0).astype(np.uint8) for o in outs]
        row = compare(path.name, JUDGED_AS[precision], outs, ref, labels, classes, gate)
        row.precision = f"{precision}, OpenVINO bf16"
        rows.append(row)
    return rows


def record(path: Path, passed: bool) -> None:
    """Write ``openvino_bf16`` (verified | failed) into ``path``'s metadata and sidecar, atomically."""
    from unet_edge.core.artifact import load_meta, write_meta
    from unet_edge.core.io import atomic_path
    from unet_edge.core.lazy import require
    from unet_edge.export.onnx_export import set_metadata

    onnx = require("onnx")
    data = {**load_meta(path).to_dict(), BF16_KEY: "verified" if passed else "failed"}
    data.pop("artifact_sha256", None)
    model = onnx.load(str(path))
    set_metadata(model, data)
    with atomic_path(path) as tmp:
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    write_meta(path, data)


def verify_bf16(artifacts: list[tuple[Path, str]], frames: list[np.ndarray], ref: list[np.ndarray],
                labels: list | None, classes: list[str], gate, log: Callable[[str], None]) -> dict[Path, dict]:
    """Check, record and print OpenVINO's bf16 execution of ``artifacts`` (:func:`checkable`); what
    each report gets, by path."""
    from unet_edge.export.verify import format_table

    rows = bf16_rows(artifacts, frames, ref, labels, classes, gate)
    by_name = {p.name: p for p, _ in artifacts}
    out = {}
    for row in rows:
        record(by_name[row.artifact], row.passed)
        out[by_name[row.artifact]] = {BF16_KEY: {"verified": row.passed, "row": row.to_dict()}}
    log(format_table(rows, "the same frames, run by OpenVINO in bf16 (a pass makes bf16 the default of "
                           "--provider openvino on this CPU)", status=("verified", "not used: runs f32")))
    return out
