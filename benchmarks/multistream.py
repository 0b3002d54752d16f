"""Many cameras, one model: 1, 2 and 4 synthetic 30 FPS sources through one width-16 model at
352x480, in one `unet-edge run` (batched) against the same sources as separate processes.

    .venv/bin/python benchmarks/multistream.py --ckpt demo_out/run/best.pt

The sources are synthetic dashcam clips (360x480) played at their 30 fps with --realtime --loop, so
they behave like live cameras: frames the model cannot keep up with are dropped and counted.
The checkpoint's weights do not matter for speed: it is exported at 352x480 (dynamic batch).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save, synth_data, table


def export(ckpt: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "unet_edge", "export", str(ckpt), "--size", "352x480", "--dynamic",
                    "--no-verify", "--no-build", "--out", str(out)], check=True, capture_output=True)
    return out / f"{ckpt.stem}.onnx"


def run_args(model: Path, clips: list[Path], seconds: float, threads: int | None) -> list[str]:
    frames = int(seconds * 30)
    cmd = [sys.executable, "-m", "unet_edge", "run", "--model", str(model), "--realtime", "--loop",
           "--max-frames", str(frames)]
    for c in clips:
        cmd += ["--source", str(c)]
    return cmd + (["--threads", str(threads)] if threads else [])


def parse(out: str) -> dict:
    total = next(ln for ln in out.splitlines() if ln.startswith("frames "))
    streams = [ln for ln in out.splitlines() if ln.startswith("stream ")]
    latency = re.search(r"capture->display\s+([\d.]+)\s+([\d.]+)", out)
    res = {"frames": int(re.search(r"frames (\d+)", total).group(1)),
           "dropped": int(re.search(r"dropped (\d+)", total).group(1)),
           "p99": [float(re.search(r"p50/p99 [\d.]+/([\d.]+)", s).group(1)) for s in streams]
           or [float(latency.group(2))]}
    batches = re.search(r"batch sizes used: (.*)", out)
    res["batch_sizes"] = batches.group(1) if batches else "1 (one source)"
    return res


def one_process(model: Path, clips: list[Path], seconds: float) -> dict:
    t0 = time.monotonic()
    proc = subprocess.run(run_args(model, clips, seconds, None), capture_output=True, text=True, check=True)
    wall = time.monotonic() - t0
    res = parse(proc.stdout)
    res["fps"] = res["frames"] / wall  # displayed frames of all streams per second of the run
    return res


def separate_processes(model: Path, clips: list[Path], seconds: float) -> dict:
    # Each process gets its share of the cores, as a user would set it to avoid oversubscription.
    import os

    threads = max(1, (os.cpu_count() or 1) // len(clips))
    t0 = time.monotonic()
    procs = [subprocess.Popen(run_args(model, [c], seconds, threads), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in clips]
    outs = [p.communicate()[0] for p in procs]
    wall = time.monotonic() - t0
    parsed = [parse(o) for o in outs]
    return {"frames": sum(p["frames"] for p in parsed), "fps": sum(p["frames"] for p in parsed) / wall,
            "dropped": sum(p["dropped"] for p in parsed), "p99": [p["p99"][0] for p in parsed],
            "batch_sizes": "1 (one source each)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, required=True, help="a width-16 checkpoint (unet-lite)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each run, in source seconds")
    args = ap.parse_args()
    rows, result = [], {"runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = export(args.ckpt, tmp / "export")
        data = synth_data(tmp / "data", 8)
        clip = data / "clip.mp4"
        clips = []
        for i in range(4):  # four different-looking files, so that no two sources are the same decode
            c = tmp / f"cam{i}.mp4"
            c.symlink_to(clip)
            clips.append(c)
        for n in (1, 2, 4):
            for mode, fn in (("one process, batched", one_process), ("separate processes", separate_processes)):
                if n == 1 and mode == "separate processes":
                    continue
                res = fn(model, clips[:n], args.seconds)
                result["runs"].append({"sources": n, "mode": mode, **res})
                rows.append([n, mode, f"{res['fps']:.1f}", f"{res['fps'] / n:.1f}",
                             " / ".join(f"{p:.0f}" for p in res["p99"]), res["dropped"], res["batch_sizes"]])
                print(rows[-1], flush=True)
    print(table(["sources", "mode", "aggregate FPS", "FPS per stream", "capture->display p99 ms per stream",
                 "dropped", "batch sizes used"], rows))
    save("multistream", result)


if __name__ == "__main__":
    main()
