"""``unet-edge demo``: the whole job end to end on the embedded synthetic dashcam."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def run_demo(out: Path, frames: int, epochs: int, size: tuple[int, int], seed: int,
             log: Callable[[str], None] = print) -> dict:
    """Synthesize, train, evaluate, export (FP32/FP16/INT8, verified), stream the clip to an MP4 and bench."""
    from unet_edge.bench.report import print_tables
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.evaluate import EvalConfig, evaluate_path, format_report
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.runtime.run import RunConfig, run_stream
    from unet_edge.synth.writer import write_synth
    from unet_edge.training import TrainConfig, train

    out = Path(out)
    t0 = time.perf_counter()
    data = out / "data"
    synth_size = (size[0] * 2, size[1] * 2)  # render at twice the model size, as a camera would
    log(f"[1/6] synthesizing {frames} street scenes at {synth_size[0]}x{synth_size[1]} -> {data}")
    write_synth(data, frames=frames, size=synth_size, seed=seed, clip_frames=150, force=True)
    run = out / "run"
    log(f"[2/6] training unet-lite for {epochs} epochs at {size[0]}x{size[1]} -> {run}")
    cfg = TrainConfig(data=str(data), dataset="folder", arch="unet-lite", size=size, epochs=epochs, batch=16,
                      lr=3e-3, out=str(run), seed=seed, scale=(0.9, 1.3), class_weights="none")
    train(cfg, log=log)
    log("[3/6] evaluating best.pt on the held-out scenes")
    grid = out / "predictions.png"
    report = evaluate_path(EvalConfig(run / "best.pt", data, "folder", "val", None, grid, 4, out / "eval.json"))
    log(format_report(report))
    log("[4/6] exporting FP32, FP16 and INT8 (CPU flavour) ONNX, verified against PyTorch")
    exp = out / "export"
    export_model(run / "best.pt", ExportOptions(fp16=True, int8=True, int8_target="cpu", calib=f"folder:{data}",
                                                     calib_frames=frames, out=exp, verify_data=f"folder:{data}"),
                      log=log)
    video = out / "segmented.mp4"
    log(f"[5/6] streaming the dashcam clip through {exp / 'best.onnx'} -> {video}")
    run_stream(RunConfig(exp / "best.onnx", str(data / "clip.mp4"), save=video, legend=True), log=log)
    log("[6/6] benchmarking the backends on this machine")
    result = run_bench(BenchConfig(model=run / "best.pt", backends="all", iters=30, min_seconds=1.0,
                                   data=data, dataset="folder", cache_dir=out / "bench-cache"), log=lambda _m: None)
    print_tables(result)
    log(f"done in {time.perf_counter() - t0:.0f}s. Outputs:")
    for what, path in (("dataset", data), ("dashcam clip", data / "clip.mp4"), ("checkpoint", run / "best.pt"),
                       ("training curve", run / "curve.png"), ("scores", out / "eval.json"),
                       ("prediction grid", grid), ("ONNX models", exp), ("segmented video", video)):
        log(f"  {what:<16} {path}")
    return report
