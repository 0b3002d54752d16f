"""INT8 by each backend's own tool, side by side in one run: time to make, speed against ONNX Runtime FP32,
pixel agreement with it and mIoU change on CamVid val (frames no calibration read).

    python benchmarks/int8_routes.py --ckpt RUN/best.pt --calib camvid:../shared/data/camvid

Each ``--int8-target`` (cpu: ONNX Runtime's quantizer; openvino: NNCF; tensorrt: ONNX Runtime's symmetric
QDQ, its graph simulated in ONNX Runtime) is made by ``unet-edge export`` as a user would, with the gate
judging (wall time and the INT8 stage's, and whether the gate accepted it). Then every (graph, runtime)
pair is timed on one val frame in interleaved blocks, ``--rounds`` of them; the ratio is the median over
rounds of ONNX Runtime FP32's ms over the pair's ms in that round.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import CAMVID, save, table

TARGETS = ("cpu", "openvino", "tensorrt")


def export(ckpt: str, target: str, calib: str, size: str, out: Path) -> dict:
    """``unet-edge export --int8`` for ``target``, timed; its report's figures."""
    cmd = [str(Path(sys.executable).with_name("unet-edge")), "export", ckpt, "--int8", "--int8-target", target,
           "--calib", calib, "--size", size, "--out", str(out), "--no-build", "--json", str(out / "r.json")]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    stem = Path(ckpt).stem  # the export names its files after the checkpoint
    name = f"{stem}.int8.onnx" if target == "tensorrt" else f"{stem}.int8-{target}.onnx"
    path = out / name
    if not path.is_file():
        path = out / name.replace(".onnx", ".rejected.onnx")
    report = json.loads(Path(f"{path}.report.json").read_text()) if path.is_file() else {}
    sidecar = json.loads(Path(f"{path}.json").read_text()) if path.is_file() else {}
    print(f"{target}: {wall:.0f} s, rc {proc.returncode}" + ("" if proc.returncode == 0 else
                                                           f": {proc.stderr.strip().splitlines()[-1][:300]}"))
    return {"path": str(path), "wall_s": round(wall, 1), "accepted": proc.returncode == 0,
            "int8_stage_s": report.get("stage_seconds", {}).get("int8"),
            "stages": report.get("stage_seconds"), "float_layers": sidecar.get("float_layers"),
            "calibration_frames": report.get("int8", {}).get("calibration_frames")}


def runner(path: str, by: str):
    from unet_edge.core.artifact import ArtifactMeta, load_meta
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner
    from unet_edge.runtime.runners.openvino import OpenVINORunner

    meta = ArtifactMeta.from_dict(load_meta(path, check_hash=False).to_dict(), path)
    if by == "onnxruntime":
        return OnnxRuntimeRunner(path, meta=meta)
    return OpenVINORunner(path, precision=by.split("-")[1], meta=meta)


def measure(pairs: dict[str, tuple[str, str]], frames: list, rounds: int, block: int) -> tuple[dict, dict]:
    """Each (graph, runtime) pair's masks of ``frames``, and its ms per frame in ``rounds`` interleaved
    rounds of ``block`` calls (so a change of the machine's speed hits every pair alike)."""
    from unet_edge.bench.speed import timed_block

    runners = {k: runner(p, by) for k, (p, by) in pairs.items()}
    for r in runners.values():
        r.activate()
    try:
        masks = {k: [r.infer(f) for f in frames] for k, r in runners.items()}
        ms: dict[str, list[float]] = {k: [] for k in runners}
        for _ in range(rounds):
            for k, r in runners.items():
                ms[k].append(float(np.median(timed_block(r, frames[0], block, settle_s=0.05))))
    finally:
        for r in runners.values():
            r.deactivate()
    return masks, ms


def route_args() -> argparse.ArgumentParser:
    """The options every INT8 comparison takes: the checkpoint, its calibration set, size and rounds."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--calib", default=f"camvid:{CAMVID}")
    ap.add_argument("--size", default="352x480")
    ap.add_argument("--rounds", type=int, default=8)
    return ap


def main() -> None:
    ap = route_args()
    ap.add_argument("--block", type=int, default=5, help="timed runs a block")
    ap.add_argument("--out", default="int8_routes")
    args = ap.parse_args()
    from unet_edge.core.parse import parse_size
    from unet_edge.export.criterion import Scorer
    from unet_edge.export.frame_sets import load_frames

    h, w = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="int8-routes-"))
    made = {t: export(args.ckpt, t, args.calib, args.size, work / t) for t in TARGETS}
    fp32 = str(work / "cpu" / f"{Path(args.ckpt).stem}.onnx")
    pairs = {"FP32, ONNX Runtime": (fp32, "onnxruntime"),
             "FP32, OpenVINO f32": (fp32, "openvino-f32"),
             "FP32, OpenVINO bf16": (fp32, "openvino-bf16"),
             "int8-cpu (ONNX Runtime's quantizer), ONNX Runtime": (made["cpu"]["path"], "onnxruntime"),
             "int8-cpu, OpenVINO": (made["cpu"]["path"], "openvino-f32"),
             "int8-openvino (NNCF), OpenVINO f32 float parts": (made["openvino"]["path"], "openvino-f32"),
             "int8-openvino (NNCF), OpenVINO bf16 float parts": (made["openvino"]["path"], "openvino-bf16"),
             "int8-tensorrt QDQ, simulated in ONNX Runtime": (made["tensorrt"]["path"], "onnxruntime")}
    frames, labels, names = load_frames(args.calib, (h, w), 1000, "val", None)
    masks, ms = measure(pairs, frames, args.rounds, args.block)
    ref = masks["FP32, ONNX Runtime"]
    scorer = Scorer(ref, labels, names or [])  # as the gate scores: at the labels' resolution
    rows, out = [], {}
    for k in pairs:
        ratio = float(np.median([a / b for a, b in zip(ms["FP32, ONNX Runtime"], ms[k])]))
        score = scorer.score(masks[k])
        agree, delta = score.agreement, None if score.miou_delta is None else 100 * score.miou_delta
        worst = None if score.worst[0] is None else (score.worst[0], 100 * score.worst[1])
        target = next((t for t in TARGETS if pairs[k][0] == made[t]["path"]), None)
        make = f"{made[target]['wall_s']:.0f} s" + ("" if made[target]["accepted"] else " (gate: rejected)") \
            if target else "0"
        out[k] = {"ms": round(float(np.median(ms[k])), 2), "speed_vs_ort_fp32": round(ratio, 2),
                  "agreement": round(agree, 5), "miou_delta_pts": None if delta is None else round(delta, 2),
                  "worst_class": worst and [worst[0], round(worst[1], 2)], "make": made.get(target)}
        rows.append([k, make, f"{ratio:.2f}x ({np.median(ms[k]):.1f} ms)", f"{100 * agree:.2f}%",
                     "" if delta is None else f"{delta:+.2f} pts" + (f", worst {worst[0]} {worst[1]:+.2f}"
                                                                     if worst else "")])
    print(table(["route", "time to make (export, gate judging)", "speed vs ONNX Runtime FP32",
                 "pixel agreement with FP32", "mIoU change (val)"], rows))
    save(args.out, {"routes": out, "exports": made, "frames": len(frames), "size": [h, w]})


if __name__ == "__main__":
    main()
