"""The INT8 gate per checkpoint and flavour: criterion, agreement, mIoU change, worst class, float layers
and their MACs share, ms in ONNX Runtime and OpenVINO (FP32 beside INT8), export minutes.

    .venv/bin/python benchmarks/int8_gate.py lite0=RUN/best.pt unet16=RUN16/best.pt --targets cpu,tensorrt

Exports with ``unet-edge export``'s defaults (calibration and verification on CamVid train/val when
``--data`` is given, else the synthetic dashcam's labelled frames); a rejected graph is measured too,
from its ``.rejected.onnx`` and report. Writes benchmarks/results/int8_gate.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CAMVID, save, table  # noqa: E402

from unet_edge.export.thresholds import DEFAULT_SEARCH_MINUTES  # noqa: E402


def export_int8(ckpt: Path, out: Path, target: str, data: str | None, size, calib_frames: int,
                verify_frames: int, search_minutes: float) -> tuple[Path, dict, float]:
    """Export FP32 + INT8 ``target``; the INT8 graph (accepted or rejected), its report, the seconds."""
    from unet_edge.core.errors import Int8Rejected
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.int8.stage import int8_path
    from unet_edge.export.report import read_report

    t0 = time.monotonic()
    opts = ExportOptions(int8=True, int8_target=target, calib=data or None, calib_frames=calib_frames, size=size,
                         out=out, verify_data=data, verify_frames=verify_frames, build=False,
                         int8_search_minutes=search_minutes)
    try:
        export_model(ckpt, opts, lambda m: print("   ", m))
        path = int8_path(out, ckpt.stem, target)
    except Int8Rejected as miss:
        print(f"  rejected: {miss}")
        path = miss.path
    return path, read_report(path), time.monotonic() - t0


def speeds(fp32: Path, int8: Path, frame) -> dict:
    """Median ms of FP32 and INT8 in ONNX Runtime (alternating blocks) and in OpenVINO (f32 hint)."""
    import numpy as np

    from unet_edge.bench.speed import interleaved_ms

    ort_fp32, ort_int8 = interleaved_ms(fp32, int8, frame, runs=16)
    out = {"ort_fp32_ms": ort_fp32, "ort_int8_ms": ort_int8}
    try:
        from unet_edge.runtime.runners.openvino import OpenVINORunner

        for key, path in (("ov_fp32_ms", fp32), ("ov_int8_ms", int8)):
            with OpenVINORunner(path, precision="f32") as r:
                for _ in range(3):
                    r.infer(frame)
                times = []
                for _ in range(16):
                    t0 = time.perf_counter()
                    r.infer(frame)
                    times.append(1000 * (time.perf_counter() - t0))
            out[key] = float(np.median(times))
    except Exception as exc:  # noqa: BLE001  no OpenVINO here: the ORT columns stand
        out["ov_error"] = str(exc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=CHECKPOINT")
    ap.add_argument("--targets", default="cpu,tensorrt")
    ap.add_argument("--data", default=f"camvid:{CAMVID}" if CAMVID.is_dir() else None,
                    help="calibration and verification frames, LAYOUT:PATH (default: CamVid where it is, "
                         "else the synthetic dashcam)")
    ap.add_argument("--size", default=None, help="HxW (default: each checkpoint's training size)")
    ap.add_argument("--calib-frames", type=int, default=500)
    ap.add_argument("--verify-frames", type=int, default=24)
    ap.add_argument("--search-minutes", type=float, default=DEFAULT_SEARCH_MINUTES,
                    help="the float-layer search's budget per export (default: the export's, %(default)g)")
    ap.add_argument("--out", default="int8_gate")
    args = ap.parse_args()
    import onnx

    from unet_edge.core.parse import parse_size
    from unet_edge.export.frame_sets import synthetic_frames

    size = parse_size(args.size) if args.size else None
    if args.data is None:  # the synthetic dashcam's labelled frames, written once
        from _common import synth_data

        args.data = f"folder:{synth_data(Path(tempfile.gettempdir()) / 'unet-edge-int8-synth', 160, (96, 128))}"
    results, rows = [], []
    for spec in args.runs:
        name, _, ckpt = spec.partition("=")
        for target in args.targets.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                print(f"{name} int8-{target}")
                path, report, seconds = export_int8(Path(ckpt), Path(tmp), target, args.data, size,
                                                    args.calib_frames, args.verify_frames, args.search_minutes)
                s = report["summary"]
                # one timing frame at the graph's own input size
                dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
                frame_size = (dims[1], dims[2]) if len(dims) == 4 and dims[1] > 0 else (352, 480)
                ms = speeds(Path(tmp) / f"{Path(ckpt).stem}.onnx", path, synthetic_frames(frame_size, 1)[0][0])
            row = {"model": name, "checkpoint": ckpt, **s, "rejected": path.name.endswith(".rejected.onnx"),
                   "export_minutes": seconds / 60, **ms}
            results.append(row)
            worst = "-" if s["worst_class"] is None else f"{s['worst_class']} {100 * s['worst_class_change']:+.2f}"
            rows.append([name, s["flavour"] + (" (rejected)" if row["rejected"] else ""), s["criterion"],
                         f"{100 * s['agreement']:.2f}%",
                         "-" if s["miou_change"] is None else f"{100 * s['miou_change']:+.2f}", worst,
                         ", ".join(s["float_layers"] or []) or "none",
                         "-" if s["float_macs_share"] is None else f"{100 * s['float_macs_share']:.1f}%",
                         f"{ms['ort_fp32_ms']:.2f} / {ms['ort_int8_ms']:.2f}",
                         f"{ms['ov_fp32_ms']:.2f} / {ms['ov_int8_ms']:.2f}" if "ov_int8_ms" in ms else "-",
                         f"{seconds / 60:.1f}"])
    print(table(["model", "flavour", "criterion", "agreement", "mIoU change (pts)", "worst class (pts)",
                 "float layers", "their MACs", "ORT ms FP32 / INT8", "OpenVINO ms FP32 / INT8", "export min"], rows))
    save(args.out, {"rows": results, "data": args.data, "targets": args.targets,
                    "search_minutes": args.search_minutes})


if __name__ == "__main__":
    main()
