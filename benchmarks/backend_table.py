"""Backends side by side at 352x480 for width 32 and 16 (issues 3 and 5), in one run.

    python benchmarks/backend_table.py --ckpt32 RUN32/best.pt --ckpt16 RUN16/best.pt

PyTorch eager FP32 (inference_mode, same thread count) in both memory formats -- channels_last, as
training and `unet-edge` run it, and PyTorch's default contiguous NCHW (a plain ``model(x)``) -- vs
ONNX Runtime FP32, FP16 and INT8 (CPU flavour, calibrated on real CamVid train frames), with pixel
agreement and mIoU on CamVid val when the dataset is present (synthetic frames otherwise).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import CAMVID, RESULTS, save, table

BACKENDS = "torch,torch-nchw,onnxruntime,onnxruntime-fp16,onnxruntime-int8"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt32", type=Path, required=True)
    ap.add_argument("--ckpt16", type=Path, required=True)
    ap.add_argument("--size", default="352x480")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--data-limit", type=int, default=None, help="score only the first N val frames")
    ap.add_argument("--subpixel", action="store_true", help="export ConvTranspose as Conv + DepthToSpace")
    args = ap.parse_args()
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.core.parse import parse_size

    size = parse_size(args.size)
    data = CAMVID if CAMVID.is_dir() else None
    results, rows = {}, []
    for width, ckpt in ((32, args.ckpt32), (16, args.ckpt16)):
        res = run_bench(BenchConfig(model=ckpt, backends=BACKENDS,
                                    size=size, iters=args.iters, min_seconds=5.0, data=data, dataset="camvid",
                                    data_limit=args.data_limit, cache_dir=RESULTS / "cache",
                                    subpixel=args.subpixel), log=print)
        results[f"width{width}"] = res
        fp32 = next(r for r in res["rows"] if r["backend"] == "onnxruntime")["timing"]["mean"]
        eager = next(r for r in res["rows"] if r["backend"] == "torch")["timing"]["mean"]
        nchw = next(r for r in res["rows"] if r["backend"] == "torch-nchw")["timing"]["mean"]
        for r in res["rows"]:
            t = r["timing"] or {}
            rows.append([width, r["backend"], r["status"], f"{r['size_mb']:.1f}", f"{100 * r['agreement']:.2f}%",
                         "-" if r["miou"] is None else f"{r['miou']:.4f}", f"{t['mean']:.1f}", f"{t['p50']:.1f}",
                         f"{t['p99']:.1f}", f"{t['fps']:.2f}", f"{eager / t['mean']:.2f}x",
                         f"{nchw / t['mean']:.2f}x", f"{fp32 / t['mean']:.2f}x"])
    print(table(["width", "backend", "status", "MB", "agreement vs torch", "mIoU", "mean ms", "p50", "p99", "FPS",
                 "vs eager (channels_last)", "vs eager (NCHW)", "vs ORT fp32"], rows))
    print(f"threads: {res['threads']}, frames: {res['frames']}, size {args.size}")
    save("backends-subpixel" if args.subpixel else "backends", results)


if __name__ == "__main__":
    main()
