"""Soak: `unet-edge run` for 200,000 frames, memory sampled, printed percentiles against exact ones.

    .venv/bin/python benchmarks/soak.py --model demo_out/export/best.onnx --source demo_out/data/clip.mp4

1. The real command (`unet-edge run --loop --max-frames N --stats-every 10 --stats-json --trace`) in
   a subprocess; its RSS is read from /proc every few seconds. Growth after warm-up must be <= 2 MB.
2. The p50/p99 capture->display latency it prints at the end, against the exact percentiles of
   the per-frame trace (numpy, offline): within 2%.
3. The live view under load: the same run for a few thousand frames with 0 and with 25 viewers
   (20 reading the MJPEG stream, 5 connected and never reading); pipeline FPS of each.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import model_and_input, save, table


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_cmd(model: Path, source: str, frames: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "unet_edge", "run", "--model", str(model), "--source", source, "--loop",
            "--max-frames", str(frames), *extra]


def soak(args, tmp: Path) -> dict:
    stats_json, trace = tmp / "stats.jsonl", tmp / "trace.csv"
    cmd = run_cmd(args.model, str(args.source), args.frames, ["--stats-every", "10", "--stats-json", str(stats_json),
                                                              "--trace", str(trace)])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    samples: list[tuple[float, float]] = []
    t0 = time.monotonic()
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            samples.append((time.monotonic() - t0, mb))
        time.sleep(args.sample_every)
    out = proc.stdout.read()
    assert proc.returncode == 0, out[-2000:]
    printed = re.search(r"capture->display\s+([\d.]+)\s+([\d.]+)", out)
    p50, p99 = float(printed.group(1)), float(printed.group(2))
    lat = np.loadtxt(trace, delimiter=",", skiprows=1, usecols=2)
    exact50, exact99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
    wall = time.monotonic() - t0
    warm = [mb for t, mb in samples if t >= args.warmup_seconds] or [mb for _, mb in samples]
    records = [json.loads(x) for x in stats_json.read_text().splitlines()]
    return {"frames": int(len(lat)), "seconds": wall, "fps": len(lat) / wall,
            "rss_mb": {"first_after_warmup": warm[0], "max_after_warmup": max(warm), "last": warm[-1],
                       "growth_after_warmup": max(warm) - warm[0], "samples": len(samples),
                       "trace": [[round(t, 1), round(mb, 2)] for t, mb in samples[:: max(1, len(samples) // 200)]]},
            "latency_ms": {"printed_p50": p50, "printed_p99": p99, "exact_p50": exact50, "exact_p99": exact99,
                           "p50_error": abs(p50 - exact50) / exact50, "p99_error": abs(p99 - exact99) / exact99},
            "periodic_records": len(records), "command": " ".join(cmd)}


def _viewer(port: int, stop: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/stream")
        resp = conn.getresponse()
        while not stop.is_set() and resp.fp.readline():
            pass
    except OSError:
        pass
    finally:
        conn.close()


def viewer_load(args, viewers: int, stalled: int) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = run_cmd(args.model, str(args.source), args.load_frames, ["--serve", f"127.0.0.1:{port}"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, socks, threads = threading.Event(), [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    for _ in range(stalled):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    for _ in range(viewers):
        t = threading.Thread(target=_viewer, args=(port, stop), daemon=True)
        t.start()
        threads.append(t)
    out, _ = proc.communicate(timeout=1800)
    stop.set()
    for s in socks:
        s.close()
    counts = next(ln for ln in out.splitlines() if ln.startswith("frames "))
    fps = float(re.search(r"FPS ([\d.]+)", counts).group(1))
    return {"viewers": viewers, "stalled": stalled, "fps": fps, "returncode": proc.returncode}


def main() -> None:
    ap = model_and_input(__doc__, "--source", "a video file, looped")
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--load-frames", type=int, default=3000)
    ap.add_argument("--sample-every", type=float, default=3.0)
    ap.add_argument("--warmup-seconds", type=float, default=60.0)
    ap.add_argument("--skip-soak", action="store_true")
    args = ap.parse_args()
    result = {"model": str(args.model), "source": str(args.source)}
    with tempfile.TemporaryDirectory() as tmp:
        load = [viewer_load(args, 0, 0), viewer_load(args, 20, 5)]
        result["viewer_load"] = load
        if not args.skip_soak:
            result["soak"] = soak(args, Path(tmp))
    rows = [[f"{r['viewers']} reading + {r['stalled']} stalled viewers", f"{r['fps']:.1f} FPS", ""] for r in load]
    if "soak" in result:
        s, lat = result["soak"], result["soak"]["latency_ms"]
        rows += [
            [f"soak: {s['frames']} frames in {s['seconds'] / 60:.1f} min", f"{s['fps']:.1f} FPS", ""],
            ["RSS growth after warm-up", f"{s['rss_mb']['growth_after_warmup']:.2f} MB "
             f"({s['rss_mb']['first_after_warmup']:.1f} -> max {s['rss_mb']['max_after_warmup']:.1f})", "<= 2 MB"],
            *[[f"printed vs exact {q} latency", f"{lat['printed_' + q]:.3f} vs {lat['exact_' + q]:.3f} ms "
               f"({100 * lat[q + '_error']:.2f}%)", "<= 2%"] for q in ("p50", "p99")],
        ]
    print(table(["measure", "value", "target"], rows))
    save("soak", result)


if __name__ == "__main__":
    main()
