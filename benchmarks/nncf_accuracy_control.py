"""NNCF's accuracy control (``nncf.quantize_with_accuracy_control``) against the project's own float-layer
search for ``--int8-target openvino``, one run: time to make, float layers, OpenVINO speed against ONNX
Runtime FP32, pixel agreement and mIoU change on every CamVid val frame.

    .venv/bin/python benchmarks/nncf_accuracy_control.py --ckpt RUN/best.pt --calib camvid:../shared/data/camvid

Both start from the same FP32 export and the same 300 calibration frames (train, as ``export`` reads them)
and choose on the same 24 labelled val frames (the search's frames: the val frames beside the gate's 24);
NNCF is given the gate's mIoU limit (``max_drop`` 0.005 absolute) and a validation function computing
mIoU on those frames, in ONNX Runtime. Ours is ``unet-edge export --int8 --int8-target openvino``, the
gate judging (its per-class limit included, which NNCF has no notion of).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _common import save, table
from int8_routes import export, measure, route_args


def main() -> None:
    ap = route_args()
    ap.add_argument("--out", default="nncf_accuracy_control")
    ap.add_argument("--ours", type=Path, help="reuse this folder's --int8-target openvino export")
    ap.add_argument("--ours-seconds", type=float, help="its export's wall time (needed with --ours)")
    args = ap.parse_args()
    if args.ours is not None and args.ours_seconds is None:
        ap.error("--ours needs --ours-seconds: the reused export's wall time goes in the table")
    import nncf
    import onnx
    import onnxruntime as ort

    from unet_edge.core.artifact import load_meta, write_meta
    from unet_edge.core.parse import parse_size
    from unet_edge.export.criterion import Scorer
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.int8.nncf_quant import DEPLOY_SCOPE, SUBSET
    from unet_edge.metrics import confusion, scores

    h, w = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="nncf-ac-"))
    made = args.ours or work / "ours"
    if args.ours is None:
        ours = export(args.ckpt, "openvino", args.calib, args.size, made)
    else:  # an earlier run's export of the same checkpoint, and its wall time
        path = made / f"{Path(args.ckpt).stem}.int8-openvino.onnx"
        ours = {"path": str(path), "wall_s": args.ours_seconds, "accepted": path.is_file()}
    fp32 = made / f"{Path(args.ckpt).stem}.onnx"
    calib, _, _ = load_frames(args.calib, (h, w), SUBSET, "train", None, "rest")
    chosen, chosen_labels, names = load_frames(args.calib, (h, w), 24, "val", None, "beside")
    n = len(names)

    def validate(model, data) -> float:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        cm = np.zeros((n, n), np.int64)
        for frame, label in data:
            pred = sess.run(None, {"frame": frame[None]})[0][0]
            pred = cv2.resize(pred, label.shape[::-1], interpolation=cv2.INTER_NEAREST)  # as the gate scores
            cm += confusion(pred, label, n)
        return float(scores(cm).miou)

    t0 = time.monotonic()
    quantized = nncf.quantize_with_accuracy_control(
        onnx.load(str(fp32)), nncf.Dataset(calib, lambda f: {"frame": f[None]}),
        nncf.Dataset(list(zip(chosen, chosen_labels)), lambda item: {"frame": item[0][None]}), validate,
        max_drop=0.005, drop_type=nncf.DropType.ABSOLUTE, preset=nncf.QuantizationPreset.PERFORMANCE,
        subset_size=SUBSET, ignored_scope=nncf.IgnoredScope(patterns=[DEPLOY_SCOPE], validate=False))
    nncf_s = time.monotonic() - t0
    ac_path = work / "nncf-ac.int8.onnx"
    onnx.save_model(quantized, str(ac_path))
    write_meta(ac_path, {**load_meta(fp32).to_dict(), "precision": "int8"})
    made_by = {o: node.op_type for node in quantized.graph.node for o in node.output}
    convs = [node for node in quantized.graph.node if node.op_type == "Conv"]
    q_convs = len(convs)
    float_convs = sum(1 for node in convs if made_by.get(node.input[1]) != "DequantizeLinear")
    print(f"NNCF accuracy control: {nncf_s:.0f} s, {float_convs} of {q_convs} convs with float weights")

    frames, labels, _ = load_frames(args.calib, (h, w), 1000, "val", None)
    pairs = {"FP32, ONNX Runtime": (str(fp32), "onnxruntime"),
             "ours: NNCF + the search, OpenVINO f32": (ours["path"], "openvino-f32"),
             "ours, OpenVINO bf16": (ours["path"], "openvino-bf16"),
             "NNCF accuracy control, OpenVINO f32": (str(ac_path), "openvino-f32"),
             "NNCF accuracy control, OpenVINO bf16": (str(ac_path), "openvino-bf16")}
    masks, ms = measure(pairs, frames, args.rounds, 5)
    scorer = Scorer(masks["FP32, ONNX Runtime"], labels, names)
    rows, out = [], {}
    make = {"ours": f"{ours['wall_s']:.0f} s (export, gate {'accepted' if ours['accepted'] else 'rejected'})",
            "NNCF": f"{nncf_s:.0f} s (the call alone)"}
    for k in pairs:
        ratio = float(np.median([a / b for a, b in zip(ms["FP32, ONNX Runtime"], ms[k])]))
        s = scorer.score(masks[k])
        worst = s.worst
        out[k] = {"ms": round(float(np.median(ms[k])), 2), "speed_vs_ort_fp32": round(ratio, 2),
                  "agreement": round(s.agreement, 5), "miou_delta_pts": round(100 * s.miou_delta, 2),
                  "worst_class": [worst[0], round(100 * worst[1], 2)]}
        rows.append([k, make["ours"] if k.startswith("ours") else make["NNCF"] if k.startswith("NNCF") else "0",
                     f"{ratio:.2f}x ({np.median(ms[k]):.1f} ms)", f"{100 * s.agreement:.2f}%",
                     f"{100 * s.miou_delta:+.2f} pts, worst {worst[0]} {100 * worst[1]:+.2f}"])
    print(table(["route", "time to make", "speed vs ONNX Runtime FP32", "pixel agreement", "mIoU change (val)"],
                rows))
    save(args.out, {"routes": out, "ours": ours, "nncf_seconds": round(nncf_s, 1), "frames": len(frames),
                    "nncf_float_weight_convs": float_convs, "convs": q_convs,
                    "versions": {"nncf": nncf.__version__, "onnxruntime": ort.__version__,
                                 "python": sys.version.split()[0]},
                    "cpu": subprocess.run(["lscpu"], capture_output=True, text=True).stdout.split("Model name:")[-1]
                    .splitlines()[0].strip()})


if __name__ == "__main__":
    main()
