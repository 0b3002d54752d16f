"""How many calibration frames INT8 needs: accuracy and calibration time per frame count, on this CPU.

    .venv/bin/python benchmarks/calib_frames.py EXPORT/best.onnx --frames 32,64,128,367 --methods minmax,entropy

For one exported FP32 graph, each flavour and method is calibrated on N CamVid train frames (spread
evenly, as the export takes them), the default float layers kept and no search, then scored against the
FP32 graph's masks and labels on CamVid val frames: agreement, mIoU change, worst class and the seconds
the calibration took. Writes benchmarks/results/calib_frames.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CAMVID, save, table, val_scorer  # noqa: E402

HEADERS = ["frames", "flavour", "method", "agreement", "mIoU change (pts)", "worst class (pts)",
           "calibration s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx", type=Path, help="an FP32 deploy graph with its sidecar")
    ap.add_argument("--frames", default="32,64,128,367", help="calibration frame counts")
    ap.add_argument("--methods", default="minmax")
    ap.add_argument("--targets", default="cpu,tensorrt")
    ap.add_argument("--verify-frames", type=int, default=48)
    ap.add_argument("--out", default="calib_frames")
    args = ap.parse_args()

    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.int8.calibration import quantize
    from unet_edge.export.int8.saturation import int8_kernels_saturate
    from unet_edge.export.verify import onnx_masks

    contract, size, frames, scorer = val_scorer(args.onnx, args.verify_frames)
    out = {"onnx": str(args.onnx), "verify_frames": len(frames), "kernels_saturate": int8_kernels_saturate(),
           "rows": []}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(v) for v in args.frames.split(",")):
            calib, _, _ = load_frames(f"camvid:{CAMVID}", size, n, "train")
            for target in args.targets.split(","):
                for method in args.methods.split(","):
                    dest = Path(tmp) / f"{target}-{method}-{n}.onnx"
                    t0 = time.monotonic()
                    quantize(args.onnx, dest, calib, target, method, warn=False)
                    seconds = time.monotonic() - t0
                    s = scorer.score(onnx_masks(dest, frames, contract))
                    worst, delta = s.worst
                    row = {"frames": len(calib), "target": target, "method": method, "agreement": s.agreement,
                           "miou_change_pts": 100 * s.miou_delta, "worst_class": worst, "worst_pts": 100 * delta,
                           "calib_seconds": seconds}
                    out["rows"].append(row)
                    rows.append([len(calib), target, method, f"{100 * s.agreement:.2f}%",
                                 f"{row['miou_change_pts']:+.2f}", f"{worst} {row['worst_pts']:+.2f}",
                                 f"{seconds:.0f}"])
                    print(table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)  # as each row lands
    print(table(HEADERS, rows))
    save(args.out, out)


if __name__ == "__main__":
    main()
