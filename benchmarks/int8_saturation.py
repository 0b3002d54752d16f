"""INT8 with 8-bit against 7-bit (``reduce_range``) weights, on this CPU, for one exported FP32 graph.

    .venv/bin/python benchmarks/int8_saturation.py EXPORT/best.onnx --calib-frames 48 --verify-frames 24

Both graphs are calibrated alike (minmax, the default float layers) and scored against the FP32
graph's masks and CamVid val labels: agreement, mIoU change and worst class per flavour. On CPUs whose
INT8 kernels saturate (x86 without VNNI; ``runtime/runners/int8_probe.py``) 8-bit weights lose accuracy;
elsewhere the two should be level. Writes benchmarks/results/int8_saturation.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import unittest.mock as mock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CAMVID, save, table, val_scorer  # noqa: E402

# quantize() imports the probe at each call, so patching the module's attribute pins its answer.
PROBE = "unet_edge.export.int8.saturation.int8_kernels_saturate"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx", type=Path, help="an FP32 deploy graph with its sidecar")
    ap.add_argument("--calib-frames", type=int, default=48)
    ap.add_argument("--verify-frames", type=int, default=24)
    ap.add_argument("--targets", default="cpu,tensorrt")
    ap.add_argument("--out", default="int8_saturation")
    args = ap.parse_args()

    import unet_edge.export.int8.calibration as calibration
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.int8.saturation import int8_kernels_saturate
    from unet_edge.export.verify import onnx_masks

    contract, size, frames, scorer = val_scorer(args.onnx, args.verify_frames)
    calib, _, _ = load_frames(f"camvid:{CAMVID}", size, args.calib_frames, "train")
    saturates = int8_kernels_saturate()
    rows, out = [], {"kernels_saturate": saturates, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            for reduce in (False, True):
                dest = Path(tmp) / f"{target}-{int(reduce)}.onnx"
                with mock.patch(PROBE, lambda r=reduce: r):  # quantize() asks the probe: pin its answer
                    calibration.quantize(args.onnx, dest, calib, target, "minmax", warn=False)
                s = scorer.score(onnx_masks(dest, frames, contract))
                worst, delta = s.worst
                row = {"target": target, "weights": "7-bit" if reduce else "8-bit", "agreement": s.agreement,
                       "miou_change_pts": 100 * s.miou_delta, "worst_class": worst, "worst_pts": 100 * delta}
                out["rows"].append(row)
                rows.append([target, row["weights"], f"{100 * s.agreement:.2f}%", f"{row['miou_change_pts']:+.2f}",
                             f"{worst} {row['worst_pts']:+.2f}"])
    print(f"INT8 kernels saturate on this CPU: {saturates}")
    print(table(["flavour", "weights", "agreement", "mIoU change (pts)", "worst class (pts)"], rows))
    save(args.out, out)


if __name__ == "__main__":
    main()
