"""16:9 footage through a 4:3 model: stretch (to the export size), letterbox, centre crop, and a dynamic
export run at the footage's own aspect at several sizes, "auto" being the one ``run`` picks
(``runtime.frame.aspect_size``: the export size's pixel count at the footage's aspect), scored on CamVid
frames cropped to 16:9.

    .venv/bin/python benchmarks/aspect.py --model camvid-lite0 --data ../shared/data/camvid --split val \\
        --out benchmarks/results/aspect.json
    .venv/bin/python benchmarks/aspect.py --model RUN/best.onnx --dynamic RUN/best.dynamic.onnx --holdout 0006R0

Each 360x480 frame and its labels are cut to their centre 270x480 rows (16:9). ``stretch`` resizes the
cut frame to the export size; ``letterbox`` pads it back to 4:3 with black rows first; ``crop`` keeps
its centre 4:3 window (270x360) and is scored only there (the sides get no prediction: 25% of the frame);
``dynamic HxW`` runs the dynamic export (``--dynamic``, or ``--model`` itself when it is dynamic) at HxW.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import CAMVID, save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="camvid-lite0", help="a fixed 4:3 export (or the shipped name)")
    ap.add_argument("--dynamic", type=Path, help="a --dynamic export of the same checkpoint")
    ap.add_argument("--data", type=Path, default=CAMVID)
    ap.add_argument("--split", default="val")
    ap.add_argument("--holdout", help="score the train frames with this prefix instead (e.g. 0006R0)")
    ap.add_argument("--dynamic-sizes", default="auto,256x448,288x512,320x576,352x640",
                    help="comma-separated HxW; auto: the size run picks")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from unet_edge.core.shipped import resolve_model
    from unet_edge.data import open_dataset
    from unet_edge.metrics import confusion, scores
    from unet_edge.runtime.frame import at_size, to_model_size
    from unet_edge.runtime.runners import open_runner

    ds = open_dataset("camvid", args.data, "val" if args.holdout else args.split, holdout=args.holdout)
    model = resolve_model(args.model)
    fixed = open_runner(model)
    if fixed.meta.input_size is None:  # a dynamic model: the 4:3 ways run it at its export size
        fixed = open_runner(model, input_size=fixed.meta.train_input_size)
    runners = {"stretch": fixed, "letterbox": fixed, "crop": fixed}
    dynamic = args.dynamic or (model if fixed.meta.input_size is None else None)
    auto = None
    if dynamic:
        probe = open_runner(dynamic)
        auto = probe.size_for((270, 480))
        for text in args.dynamic_sizes.split(","):
            dh, dw = auto if text == "auto" else (int(v) for v in text.split("x"))
            label = f"dynamic {dh}x{dw}" + (" (auto)" if (dh, dw) == auto else "")
            if not any(k.startswith(f"dynamic {dh}x{dw}") for k in runners):
                runners[label] = open_runner(dynamic, input_size=(dh, dw))
    n = len(fixed.classes)
    cms = {m: np.zeros((n, n), np.int64) for m in runners}
    for r in {id(r): r for r in runners.values()}.values():
        r.activate()
    for i in range(len(ds)):
        rgb, label = ds[i]
        h, w = label.shape
        top = (h - w * 9 // 16) // 2
        frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)[top:h - top]
        truth = label[top:h - top]
        fh, fw = truth.shape
        size = fixed.input_size
        for mode, r in runners.items():
            if mode == "crop":
                left = (fw - fh * 4 // 3) // 2
                window = frame[:, left:fw - left]
                pred = at_size(r.infer(to_model_size(window, size)), *window.shape[:2])
                cms[mode] += confusion(pred, truth[:, left:fw - left], n)
                continue
            if mode == "letterbox":
                pad = (fw * 3 // 4 - fh) // 2
                boxed = cv2.copyMakeBorder(frame, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=0)
                pred = at_size(r.infer(to_model_size(boxed, size)), *boxed.shape[:2])[pad:pad + fh]
            else:
                pred = at_size(r.infer(to_model_size(frame, r.input_size)), fh, fw)
            cms[mode] += confusion(pred, truth, n)
    result = {}
    for mode, cm in cms.items():
        s = scores(cm).to_dict(fixed.classes)
        result[mode] = {"miou": round(s["miou"], 4), "iou": {k: (None if v is None else round(v, 4))
                                                              for k, v in s["iou"].items()}}
        print(f"{mode:<24} mIoU {s['miou']:.4f}  " + " ".join(f"{k[:6]} {v:.2f}" for k, v in s["iou"].items()
                                                               if v is not None))
    if args.out:
        save(args.out.stem, {"frames": len(ds), "split": args.holdout or args.split, "model": str(args.model),
                             "dynamic": str(dynamic), "auto_size": auto, "modes": result,
                             "crop_note": "scored on its centre 4:3 window only (75% of the frame's width)"})
    print(json.dumps({m: r["miou"] for m, r in result.items()}))


if __name__ == "__main__":
    main()
