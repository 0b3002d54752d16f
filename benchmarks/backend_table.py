"""Backends side by side at 352x480 for one or more checkpoints, in one run.

    python benchmarks/backend_table.py --ckpt lite0=RUN/best.pt --ckpt unet-lite=RUN2/best.pt \
        --backends torch,onnxruntime,onnxruntime-int8,openvino,openvino-bf16,openvino-int8 --out cpu_providers

PyTorch eager FP32 (inference_mode, same thread count; ``torch`` in channels_last as training and
`unet-edge` run it, ``torch-nchw`` a plain ``model(x)``), ONNX Runtime FP32/FP16/INT8 (CPU flavour,
calibrated on real CamVid train frames) and OpenVINO f32/bf16/INT8, each with its agreement against the
first backend, its CamVid val mIoU (when the dataset is present; synthetic frames otherwise) and its
pass/fail at the precision gate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import CAMVID, RESULTS, save, table

BACKENDS = "torch,torch-nchw,onnxruntime,onnxruntime-fp16,onnxruntime-int8"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", action="append", required=True, metavar="NAME=PATH",
                    help="a checkpoint and its label (repeatable)")
    ap.add_argument("--backends", default=BACKENDS)
    ap.add_argument("--size", default="352x480")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--data-limit", type=int, default=None, help="score only the first N val frames")
    ap.add_argument("--subpixel", action="store_true", help="export ConvTranspose as Conv + DepthToSpace")
    ap.add_argument("--out", default="backends", help="results/NAME.json")
    args = ap.parse_args()
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.core.parse import parse_size

    size = parse_size(args.size)
    data = CAMVID if CAMVID.is_dir() else None
    results, rows = {}, []
    for spec in args.ckpt:
        name, _, path = spec.rpartition("=")
        res = run_bench(BenchConfig(model=Path(path), backends=args.backends, size=size, iters=args.iters,
                                    min_seconds=5.0, data=data, dataset="camvid", data_limit=args.data_limit,
                                    cache_dir=RESULTS / "cache", subpixel=args.subpixel), log=print)
        results[name or path] = res
        ok = [r for r in res["rows"] if r["timing"]]
        ref = ok[0]
        ort = next((r for r in ok if r["backend"] == "onnxruntime"), ref)["timing"]["mean"]
        for r in res["rows"]:
            t = r["timing"]
            if not t:
                rows.append([name, r["backend"], r["status"], r.get("reason", "")] + ["-"] * 8)
                continue
            mi = "-" if r["miou"] is None or ref["miou"] is None else \
                f"{r['miou']:.4f} ({100 * (r['miou'] - ref['miou']):+.2f})"
            first = r.get("first_run_ms")
            rows.append([name, r["backend"], r["status"], f"{r['size_mb']:.1f}" if r["size_mb"] else "-",
                         "-" if r["agreement"] is None else f"{100 * r['agreement']:.2f}%", mi,
                         f"{t['mean']:.1f}", f"{t['p50']:.1f}", f"{t['p99']:.1f}", f"{t['fps']:.2f}",
                         f"{ort / t['mean']:.2f}x", "-" if first is None else f"{first:.0f}"])
    print(table(["model", "backend", "status", "MB", f"agreement vs {ref['backend']}", "mIoU (change)", "mean ms",
                 "p50", "p99", "FPS", "vs ORT fp32", "first-run ms"], rows))
    print(f"threads: {res['threads']}, frames: {res['frames']}, size {args.size}")
    save(args.out + ("-subpixel" if args.subpixel else ""), results)


if __name__ == "__main__":
    main()
