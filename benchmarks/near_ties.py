"""How much of an INT8 model's disagreement with FP32 the FP32 model's near-ties explain.

    python benchmarks/near_ties.py RUN/best.pt[=EXPORT/best.int8-cpu.onnx] [...]

Per checkpoint, on CamVid val frames at 352x480: the share of pixels whose top two FP32 logits lie
within 1%, 3% and 10% of the logits' spread (``export/verify.py``'s near-tie, at 1%); with an INT8
model, its disagreement, the share of it on near-ties and how often a near-tie flips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import CAMVID, save, table

SIZE = (352, 480)
MARGINS = (0.01, 0.03, 0.1)


def measure(ckpt: Path, int8: Path | None, frames: list[np.ndarray]) -> dict:
    from unet_edge.export.any_model import open_model
    from unet_edge.export.verify import relative_margins
    from unet_edge.torch_runner import TorchRunner

    with TorchRunner(ckpt, input_size=SIZE) as ref:
        logits = [ref.logits(f) for f in frames]
    m = np.concatenate([relative_margins(lg).ravel() for lg in logits])
    out: dict = {"ckpt": str(ckpt), "near_ties": {str(t): float(np.mean(m < t)) for t in MARGINS}}
    if int8 is not None:
        with open_model(int8) as q:
            d = np.concatenate([(lg.argmax(0) != q.infer(f)).ravel() for lg, f in zip(logits, frames)])
        out.update(int8=str(int8), disagreement=float(d.mean()),
                   on_near_ties={str(t): float((d & (m < t)).sum() / max(d.sum(), 1)) for t in MARGINS},
                   flip_rate={str(t): float(d[m < t].mean()) for t in MARGINS})
    return out


def main() -> None:
    import cv2

    from unet_edge.data import open_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="+", help="CKPT[=INT8_ONNX]")
    ap.add_argument("--every", type=int, default=5, help="use every Nth val frame")
    args = ap.parse_args()
    ds = open_dataset("camvid", CAMVID, "val")
    frames = [cv2.resize(ds[i][0][..., ::-1], (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA)
              for i in range(0, len(ds), args.every)]
    rows = []
    for pair in args.pairs:
        ckpt, _, int8 = pair.partition("=")
        rows.append(measure(Path(ckpt), Path(int8) if int8 else None, frames))
        print(rows[-1])
    pct = lambda r, k, t: f"{100 * r[k][t]:.1f}%" if k in r else "-"  # noqa: E731
    print(table(["checkpoint", *[f"near-ties <{t}" for t in MARGINS], "INT8 disagreement",
                 "of it on near-ties (<0.01)", "near-ties flipped (<0.01)"],
                [[r["ckpt"], *[f"{100 * r['near_ties'][str(t)]:.2f}%" for t in MARGINS],
                  f"{100 * r['disagreement']:.2f}%" if "disagreement" in r else "-",
                  pct(r, "on_near_ties", "0.01"), pct(r, "flip_rate", "0.01")] for r in rows]))
    save("near_ties", {"rows": rows, "frames": len(frames), "size": list(SIZE)})


if __name__ == "__main__":
    main()
