"""Stream a video to `unet-edge serve` from several concurrent clients and get masks back.

    unet-edge serve --model best.onnx                       # Triton on 127.0.0.1: HTTP 8000, gRPC 8001
    python docs/triton_client.py dashcam.mp4 --clients 4    # 4 clients, half over HTTP, half over gRPC

Needs only the standard client: pip install 'tritonclient[http,grpc]' opencv-python-headless.
Each client sends uint8 BGR frames (any size) as input "frame" (batch of 1) and receives "mask",
uint8 class ids at the frame's size, as `Segmenter(frame)` would give locally.
"""

from __future__ import annotations

import argparse
import threading
import time

import cv2
import numpy as np


def stream(video: str, protocol: str, url: str, index: int, results: dict) -> None:
    if protocol == "grpc":
        import tritonclient.grpc as lib
    else:
        import tritonclient.http as lib
    client = lib.InferenceServerClient(url)
    cap = cv2.VideoCapture(video)
    latencies, masks = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        inp = lib.InferInput("frame", [1, *frame.shape], "UINT8")
        inp.set_data_from_numpy(frame[None])
        t = time.perf_counter()
        res = client.infer("unet_edge", [inp], outputs=[lib.InferRequestedOutput("mask")])
        latencies.append(1e3 * (time.perf_counter() - t))
        mask = res.as_numpy("mask")[0]
        assert mask.shape == frame.shape[:2]
        masks += 1
    results[index] = (protocol, masks, np.percentile(latencies, 50), np.percentile(latencies, 99))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http", type=int, default=8000)
    ap.add_argument("--grpc", type=int, default=8001)
    args = ap.parse_args()
    results: dict = {}
    threads = []
    for i in range(args.clients):
        protocol = "grpc" if i % 2 else "http"
        url = f"{args.host}:{args.grpc if protocol == 'grpc' else args.http}"
        threads.append(threading.Thread(target=stream, args=(args.video, protocol, url, i, results)))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    total = sum(r[1] for r in results.values())
    for i, (protocol, n, p50, p99) in sorted(results.items()):
        print(f"client {i} ({protocol}): {n} masks, latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"{total} masks in {wall:.1f}s: {total / wall:.1f} frames/s over {args.clients} clients")


if __name__ == "__main__":
    main()
