"""``unet-edge demo``: the whole job end to end on the embedded synthetic dashcam."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# The default architecture from its ImageNet encoder, set for minutes on 2 cores (benchmarks/README.md,
# "The demo's recipe"; benchmarks/demo_recipe.py checks it on scenes of another seed). Crops of half the
# scene at about its native scale (rescale 1.5-2.5 of the size that covers the crop), the model run at
# the scene's full size: a pole is 2-3 pixels wide. Batch 8 for more steps in the time, one learning
# rate for the whole net, median-frequency weights (without them the thin classes stay at 0 IoU in
# this budget), no EMA (too few steps for it to settle). Training has a time, not an epoch count: the
# demo's 4 minutes hold on a slower CPU, and a faster one trains more epochs.
DEMO_RECIPE = {"arch": "unet-efficientnet-lite0", "pretrained": True, "batch": 8, "lr": 4e-3,
               "encoder_lr_scale": 1.0, "class_weights": "median", "scale": (1.5, 2.5), "ema": 0.0}
TRAIN_MINUTES = 2.25  # with the stages after it, the demo keeps within 4 minutes on 2 cores
START_EPOCHS = 14  # what TRAIN_MINUTES fit on 2 cores; refitted to the time after every epoch
CALIB_FRAMES = 128  # INT8's statistics settle on fewer (the tools' 300 cost the demo 20 s more)


def export_verified(ckpt: Path, exp: Path, data: str, log: Callable[[str], None]) -> None:
    """FP32, FP16 and INT8 (CPU flavour), each verified. A model trained for minutes may lose a rare
    class to INT8 beyond the gate (which then publishes nothing): the demo says so and goes on with
    FP32 and FP16, verified again, rather than stopping the whole job."""
    from unet_edge.core.errors import GateMissed, Int8Rejected
    from unet_edge.export.exporter import ExportOptions, export_model

    common = {"fp16": True, "out": exp, "verify_data": data}
    try:
        export_model(ckpt, ExportOptions(int8=True, int8_target="cpu", calib=data, calib_frames=CALIB_FRAMES,
                                         **common), log=log)
    except (Int8Rejected, GateMissed) as exc:
        if isinstance(exc, GateMissed) and exc.precision != "int8":
            raise  # FP32 or FP16 missed: nothing to go on with
        log(f"INT8 missed its precision gate on this run's model ({exc}); the demo goes on with FP32 and FP16")
        export_model(ckpt, ExportOptions(**common), log=log)


def run_demo(out: Path, frames: int, epochs: int | None, size: tuple[int, int], seed: int,
             log: Callable[[str], None] = print, train_minutes: float = TRAIN_MINUTES) -> dict:
    """Synthesize, train, evaluate, export (FP32/FP16/INT8, verified), stream the clip to an MP4 and bench."""
    from unet_edge.bench.report import print_tables
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.evaluate import EvalConfig, evaluate_path, format_report
    from unet_edge.runtime.run import RunConfig, run_stream
    from unet_edge.synth.writer import write_synth
    from unet_edge.training import TrainConfig, train

    out = Path(out)
    t0 = time.perf_counter()

    def step(n: int, text: str) -> None:  # each stage's line says when it began: where the minutes go
        log(f"[{n}/6 at {time.perf_counter() - t0:.0f} s] {text}")

    data = out / "data"
    synth_size = (size[0] * 2, size[1] * 2)  # render at twice the model size, as a camera would
    step(1, f"synthesizing {frames} street scenes at {synth_size[0]}x{synth_size[1]} -> {data}")
    write_synth(data, frames=frames, size=synth_size, seed=seed, clip_frames=150, force=True)
    run = out / "run"
    budget = f"{epochs} epochs" if epochs else f"{train_minutes:g} minutes (the epochs fitted to it)"
    step(2, f"training unet-efficientnet-lite0 (ImageNet encoder) for {budget} on {size[0]}x{size[1]} crops, "
            f"scored at {synth_size[0]}x{synth_size[1]} -> {run}")
    # demo_out is the demo's own scratch: a second demo replaces the first one's run
    cfg = TrainConfig(data=str(data), dataset="folder", size=size, epochs=epochs or START_EPOCHS, seed=seed,
                      out=str(run), time=None if epochs else train_minutes, overwrite=True, **DEMO_RECIPE)
    train(cfg, log=log)
    step(3, "evaluating best.pt on the held-out scenes")
    grid = out / "predictions.png"
    report = evaluate_path(EvalConfig(run / "best.pt", data, "folder", "val", None, grid, 4, out / "eval.json"))
    log(format_report(report))
    step(4, "exporting FP32, FP16 and INT8 (CPU flavour) ONNX, verified against PyTorch")
    exp = out / "export"
    export_verified(run / "best.pt", exp, f"folder:{data}", log)
    video = out / "segmented.mp4"
    step(5, f"streaming the dashcam clip through {exp / 'best.onnx'} -> {video}")
    run_stream(RunConfig(exp / "best.onnx", str(data / "clip.mp4"), save=video, legend=True), log=log)
    step(6, "benchmarking the backends on this machine")
    result = run_bench(BenchConfig(model=run / "best.pt", backends="all", iters=20, min_seconds=0.5,
                                   data=data, dataset="folder", cache_dir=out / "bench-cache",
                                   exports=exp), log=lambda _m: None)
    print_tables(result)
    log(f"done in {time.perf_counter() - t0:.0f}s. Outputs:")
    for what, path in (("dataset", data), ("dashcam clip", data / "clip.mp4"), ("checkpoint", run / "best.pt"),
                       ("training curve", run / "curve.png"), ("scores", out / "eval.json"),
                       ("prediction grid", grid), ("ONNX models", exp), ("segmented video", video)):
        log(f"  {what:<16} {path}")
    return report
