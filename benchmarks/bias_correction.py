"""INT8 agreement with FP32 before and after bias correction, with the default float layers.

    python benchmarks/bias_correction.py EXPORT/best.onnx [...] [--targets cpu,tensorrt] [--calib-frames 300]

Per FP32 export (352x480) and INT8 flavour: minmax calibration on CamVid train frames, the default float
layers (first conv, the last two), pixel agreement with the FP32 graph on CamVid val; then the same INT8
graph with its conv biases corrected (``export/bias_correct.py``), and the time the correction took.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import CAMVID, save, table

SIZE = (352, 480)


def measure(fp32: Path, target: str, calib: list[np.ndarray], frames: list[np.ndarray]) -> dict:
    from unet_edge.core.artifact import load_meta
    from unet_edge.export.bias_correct import correct_biases
    from unet_edge.export.int8 import quantize
    from unet_edge.export.verify import onnx_masks, pixel_agreement

    contract = load_meta(fp32, check_hash=False).to_dict()
    ref = onnx_masks(fp32, frames, contract)
    with tempfile.TemporaryDirectory() as tmp:
        plain, fixed = Path(tmp) / "plain.onnx", Path(tmp) / "fixed.onnx"
        quantize(fp32, plain, calib, target, "minmax", warn=False)
        before = pixel_agreement(onnx_masks(plain, frames, contract), ref)
        t0 = time.monotonic()
        convs = correct_biases(fp32, plain, fixed, calib)
        seconds = time.monotonic() - t0
        after = pixel_agreement(onnx_masks(fixed, frames, contract), ref)
    return {"model": str(fp32), "target": target, "plain": before, "corrected": after, "convs": len(convs),
            "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exports", nargs="+", type=Path)
    ap.add_argument("--targets", default="cpu,tensorrt")
    ap.add_argument("--calib-frames", type=int, default=300)
    ap.add_argument("--verify-frames", type=int, default=101)
    ap.add_argument("--out", default="bias_correction")
    args = ap.parse_args()
    from unet_edge.export.frame_sets import load_frames

    calib, _, _ = load_frames(f"camvid:{CAMVID}", SIZE, args.calib_frames, "train")
    frames, _, _ = load_frames(f"camvid:{CAMVID}", SIZE, args.verify_frames, "val")
    rows = []
    for fp32 in args.exports:
        for target in args.targets.split(","):
            rows.append(measure(fp32, target, calib, frames))
            print(rows[-1], flush=True)
    print(table(["model", "INT8 flavour", "agreement plain", "bias corrected", "convs", "seconds"],
                [[r["model"], r["target"], f"{100 * r['plain']:.2f}%", f"{100 * r['corrected']:.2f}%",
                  str(r["convs"]), f"{r['seconds']:.0f}"] for r in rows]))
    save(args.out, {"rows": rows, "size": list(SIZE)})


if __name__ == "__main__":
    main()
