"""Serving overhead: `unet-edge serve` (Triton) with 1, 4 and 8 concurrent clients against the
in-process runner on the same frames.

    .venv/bin/python benchmarks/serve.py --ckpt demo_out/run/best.pt

The checkpoint is exported at 352x480 with a dynamic batch, so Triton's dynamic batcher can group
concurrent requests. Clients alternate HTTP and gRPC (tritonclient) and send 360x480 frames of the
synthetic dashcam; the served result equals `Segmenter(frame)`, which the in-process row times.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import save, table


def client_loop(lib, url: str, frames: list[np.ndarray], seconds: float, lat: list[float]) -> None:
    client = lib.InferenceServerClient(url)
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        f = frames[i % len(frames)]
        inp = lib.InferInput("frame", [1, *f.shape], "UINT8")
        inp.set_data_from_numpy(f[None])
        t = time.perf_counter()
        client.infer("unet_edge", [inp], outputs=[lib.InferRequestedOutput("mask")])
        lat.append(1e3 * (time.perf_counter() - t))
        i += 1


def run_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    import tritonclient.grpc as grpclib
    import tritonclient.http as httplib

    from unet_edge.runtime import Segmenter
    from unet_edge.serving.triton import free_ports
    from unet_edge.synth import scene

    frames = [scene(900 + i, (360, 480))[0] for i in range(8)]
    rows, result = [], {"runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "unet_edge", "export", str(args.ckpt), "--size", "352x480",
                        "--dynamic", "--no-verify", "--no-build", "--out", tmp], check=True, capture_output=True)
        model = Path(tmp) / f"{args.ckpt.stem}.onnx"
        with Segmenter(model) as seg:  # in-process reference: the same frames, back to back
            lat = []
            deadline = time.monotonic() + args.seconds
            t0 = time.monotonic()
            while time.monotonic() < deadline:
                t = time.perf_counter()
                seg(frames[len(lat) % len(frames)])
                lat.append(1e3 * (time.perf_counter() - t))
            local = {"clients": 0, "mode": "in-process Segmenter", "fps": len(lat) / (time.monotonic() - t0),
                     "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}
        result["runs"].append(local)
        http, grpc, metrics = free_ports(3)
        server = subprocess.Popen([sys.executable, "-m", "unet_edge", "serve", "--model", str(model), "--http",
                                   str(http), "--grpc", str(grpc), "--metrics", str(metrics), "--max-batch", "8"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            probe = httplib.InferenceServerClient(f"127.0.0.1:{http}")
            for _ in range(360):
                try:
                    if probe.is_model_ready("unet_edge"):
                        break
                except Exception:
                    pass
                time.sleep(0.5)
            for n in (1, 4, 8):
                lats: list[list[float]] = [[] for _ in range(n)]
                threads = [threading.Thread(target=client_loop, args=(
                    (grpclib, f"127.0.0.1:{grpc}") if i % 2 else (httplib, f"127.0.0.1:{http}"))
                    + (frames, args.seconds, lats[i])) for i in range(n)]
                t0 = time.monotonic()
                run_all(threads)
                wall = time.monotonic() - t0
                every = [x for lt in lats for x in lt]
                result["runs"].append({"clients": n, "mode": "unet-edge serve (Triton)", "fps": len(every) / wall,
                                       "p50": float(np.percentile(every, 50)),
                                       "p99": float(np.percentile(every, 99))})
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    for r in result["runs"]:
        rows.append([r["mode"], r["clients"] or "-", f"{r['fps']:.1f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}",
                     f"{r['fps'] / local['fps']:.2f}x"])
    print(table(["mode", "concurrent clients", "frames/s", "p50 ms", "p99 ms", "throughput vs in-process"], rows))
    save("serve", result)


if __name__ == "__main__":
    main()
