"""Achieved GFLOP/s of the model on each CPU backend against this machine's measured FP32 peak.

    python benchmarks/gflops.py --ckpt RUN/best.pt [--size 352x480]

FLOPs are PyTorch's FlopCounterMode's (convolutions and matrix products, 2 x MACs; ReLU/pool/concat
are negligible), the peak is a large FP32 GEMM with the same thread count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import RESULTS, save, table


def model_flops(ckpt: Path, size: tuple[int, int]) -> float:
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

    return conv_flops(model_from_checkpoint(load_checkpoint(ckpt)), size)


def conv_flops(model, size: tuple[int, int]) -> float:
    """GFLOP of one frame at ``size`` through ``model``: PyTorch's FlopCounterMode, which counts the
    convolutions (2 x MACs) and the matrix products of attention and linear layers (a SegFormer's),
    not the element-wise ops (ReLU, norms, resizes: small beside them)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, *size))
    return counter.get_total_flops() / 1e9


def gemm_peak(threads: int, n: int = 4096) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--size", default="352x480")
    args = ap.parse_args()
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.core.parse import parse_size

    size = parse_size(args.size)
    gflop = model_flops(args.ckpt, size)
    res = run_bench(BenchConfig(model=args.ckpt, backends="torch,onnxruntime,onnxruntime-fp16,onnxruntime-int8",
                                size=size, iters=30, min_seconds=5.0, cache_dir=RESULTS / "cache",
                                source=None), log=print)
    peak = gemm_peak(res["threads"])
    rows, out = [], []
    for r in res["rows"]:
        if r["timing"] is None:
            continue
        achieved = gflop / (r["timing"]["p50"] / 1e3)
        rows.append([r["backend"], r["precision"], f"{r['timing']['p50']:.1f}", f"{achieved:.1f}",
                     f"{100 * achieved / peak:.0f}%"])
        out.append({"backend": r["backend"], "p50_ms": r["timing"]["p50"], "gflops": achieved})
    print(f"model: {gflop:.2f} GFLOP per {size[0]}x{size[1]} frame; FP32 GEMM peak {peak:.1f} GFLOP/s "
          f"({res['threads']} threads)")
    print(table(["backend", "precision", "p50 ms", "GFLOP/s", "of FP32 peak"], rows))
    save("gflops", {"model_gflop": gflop, "peak_gflops": peak, "threads": res["threads"], "rows": out})


if __name__ == "__main__":
    main()
