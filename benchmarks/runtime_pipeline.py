"""Runtime numbers (issue 4) and pipeline overhead (issue 5), with ONNX Runtime on this CPU.

    python benchmarks/runtime_pipeline.py --model EXPORT/best.onnx

1. colourise + mask resize + blend + HUD per 480x360 frame, on one core
2. end-to-end stream throughput from a file vs the runner alone, same model
3. capture->display latency with a live-paced source faster than the model
4. peak RSS of the ``unet-edge run`` process
The video is CamVid val as a 480x360 clip when the dataset is present, else the synthetic dashcam.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _common import CAMVID, save, table


def make_video(dest: Path) -> str:
    from unet_edge.core.video import VideoWriter

    if CAMVID.is_dir():
        files = sorted((CAMVID / "val").glob("*.png"))
        with VideoWriter(dest, 30.0) as w:
            for _ in range(2):
                for f in files:
                    w.write(cv2.resize(cv2.imread(str(f)), (480, 360)))
        return f"CamVid val as a 480x360 30 fps clip ({2 * len(files)} frames)"
    from unet_edge.synth.writer import write_synth

    write_synth(dest.parent / "synth", frames=1, size=(360, 480), clip_frames=200, force=True)
    (dest.parent / "synth" / "clip.mp4").replace(dest)
    return "synthetic dashcam, 480x360 30 fps (200 frames)"


def render_cost(runner, frames) -> dict:
    from unet_edge.runtime.render import Renderer, Status

    cv2.setNumThreads(1)
    h, w = runner.input_size
    masks = [runner.infer(cv2.resize(f, (w, h))) for f in frames[:8]]
    r = Renderer(runner.classes, runner.palette, "overlay", 0.5, legend=False, hud=True)
    status = Status(fps=30.0, infer_ms=80.0, backend=runner.backend, precision=runner.precision, dropped=0)
    times = []
    for i in range(400):
        t = time.perf_counter()
        r.render(frames[i % len(frames)], masks[i % len(masks)], status)
        times.append(1e3 * (time.perf_counter() - t))
    cv2.setNumThreads(-1)
    t = np.asarray(times[50:])
    return {"mean_ms": float(t.mean()), "p99_ms": float(np.percentile(t, 99))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    args = ap.parse_args()
    from unet_edge.bench.timing import time_runner
    from unet_edge.runtime.pipeline import Pipeline, StreamOptions
    from unet_edge.runtime.render import Renderer
    from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner
    from unet_edge.runtime.sources import open_source

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        what = make_video(video)
        cap = cv2.VideoCapture(str(video))
        frames = [cap.read()[1] for _ in range(30)]
        with OnnxRuntimeRunner(args.model) as runner:
            render = render_cost(runner, frames)
            alone = time_runner(runner, frames, warmup=5, iters=60, min_seconds=10.0)
            stream = {}
            for mode, realtime in (("file", False), ("live", True)):
                pipe = Pipeline(runner, open_source(str(video)), Renderer(runner.classes, runner.palette),
                                StreamOptions(realtime=realtime))
                for _ in pipe.frames():  # the pipeline records each frame
                    pass
                stream[mode] = pipe.stats.summary()
        proc = subprocess.run([sys.executable, "-m", "unet_edge", "run", "--model", str(args.model), "--source",
                               str(video), "--save", str(Path(tmp) / "out.mp4")], capture_output=True, text=True)
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        assert proc.returncode == 0, proc.stderr
    infer_p50 = stream["live"]["stages"]["infer"]["p50"]
    rows = [
        ["colourise + resize + blend + HUD, 1 core", f"{render['mean_ms']:.2f} ms (p99 {render['p99_ms']:.2f})",
         "<= 3 ms"],
        ["runner alone", f"{alone.fps:.2f} FPS ({alone.mean:.1f} ms)", ""],
        ["stream from file (every frame)", f"{stream['file']['fps']:.2f} FPS = "
         f"{100 * stream['file']['fps'] / alone.fps:.1f}% of the runner", ">= 90%"],
        ["live-paced 30 fps: capture->display p50/p99", f"{stream['live']['latency_ms']['p50']:.1f} / "
         f"{stream['live']['latency_ms']['p99']:.1f} ms = {stream['live']['latency_ms']['p99'] / infer_p50:.2f}x "
         f"inference ({infer_p50:.1f} ms); dropped {stream['live']['dropped']}", "p99 <= 2x inference"],
        ["peak RSS of `unet-edge run`", f"{rss_mb:.0f} MB", "<= 250 MB"],
    ]
    print(f"model {args.model}, input {runner.input_size}, video: {what}")
    print(table(["measure", "value", "target"], rows))
    save("runtime_pipeline", {"model": str(args.model), "video": what, "render": render, "runner": alone.to_dict(),
                              "stream": stream, "peak_rss_mb": rss_mb})


if __name__ == "__main__":
    main()
