"""What each output of ``run`` costs: throughput with no output, with ``--save-masks`` and with
``--save rtsp://`` while a real client (GStreamer's rtspsrc) reads the stream, side by side in one run.

    make .venv-gst/.installed    # the RTSP server needs the system's GStreamer through PyGObject
    .venv-gst/bin/python benchmarks/network_output.py --model tiny --model lite0=LITE0_352x480.onnx \\
        --frames ../shared/data/camvid/val --out benchmarks/results/network_output.json

Each ``run`` is a subprocess over a clip made of the frames (360x480 MP4, ``--loop``), as fast as the
model goes (no pacing: the encoder competes with the model for the CPU, the worst case); the figure
is the steady rate from ``--stats-json`` windows after the first (the RTSP client attaches during the
first). Modes alternate for ``--rounds`` rounds; the median is kept. ``tiny`` is the test suite's
tiny graph; any other NAME=PATH is an exported ONNX.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save, table  # noqa: E402


def make_clip(frames: Path, path: Path, count: int) -> Path:
    files = sorted(frames.glob("*.png"))[:count]
    first = cv2.imread(str(files[0]))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (first.shape[1], first.shape[0]))
    for f in files:
        out.write(cv2.imread(str(f)))
    out.release()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client(threading.Thread):
    """Reads the RTSP stream until it ends, counting decoded frames."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.frames = url, 0

    def run(self) -> None:
        cap = cv2.VideoCapture(f"rtspsrc location={self.url} latency=0 ! decodebin ! videoconvert ! "
                               "appsink max-buffers=4 drop=true", cv2.CAP_GSTREAMER)
        while cap.isOpened():
            ok, _ = cap.read()
            if not ok:
                break
            self.frames += 1
        cap.release()


def one_run(model: Path, clip: Path, frames: int, mode: str, work: Path) -> dict:
    stats = work / f"stats_{mode}.jsonl"
    stats.unlink(missing_ok=True)
    args = [sys.executable, "-m", "unet_edge", "run", "--model", str(model), "--source", str(clip), "--loop",
            "--max-frames", str(frames), "--no-hud", "--stats-every", "1", "--stats-json", str(stats)]
    if mode == "save_masks":
        args += ["--save-masks", str(Path(tempfile.mkdtemp(dir=work)) / "m")]
    if mode == "rtsp_client":
        args += ["--save", f"rtsp://127.0.0.1:{free_port()}/seg"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client, lines = None, []
    for line in proc.stdout:
        lines.append(line)
        if mode == "rtsp_client" and line.startswith("serving RTSP on "):
            client = Client(line.split()[3])
            client.start()
            break
    out, err = proc.communicate(timeout=1800)
    if proc.returncode:
        raise SystemExit(f"run failed ({mode}): {err.strip().splitlines()[-1]}")
    if client:
        client.join(30)
    windows = [json.loads(s)["interval"] for s in stats.read_text().splitlines()][1:-1] if stats.exists() else []
    if windows:  # the steady ones: not the start, not the last part
        fps = sum(w["frames"] for w in windows) / sum(w["seconds"] for w in windows)
    else:  # a short run: its summary's rate
        fps = float(re.search(r"^frames \d+  FPS ([\d.]+)", "".join(lines) + out, re.M).group(1))
    return {"fps": fps, "client_frames": client.frames if client else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="tiny, or NAME=PATH.onnx")
    ap.add_argument("--frames", type=Path, required=True, help="an image folder (CamVid val)")
    ap.add_argument("--seconds", type=float, default=12, help="about how long each run lasts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    clip = make_clip(args.frames, work / "clip.mp4", 100)
    rows, result = [], {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        if name == "tiny" and not path:
            from tests.runtime.tiny_model import tiny_model

            path = str(tiny_model(work / "tiny.onnx"))
        probe = one_run(Path(path), clip, 40, "none", work)["fps"]  # sizes the runs to --seconds
        frames = max(60, int(probe * args.seconds))
        got: dict[str, list] = {"none": [], "save_masks": [], "rtsp_client": []}
        for _ in range(args.rounds):
            for mode in got:
                got[mode].append(one_run(Path(path), clip, frames, mode, work))
        fps = {m: statistics.median(r["fps"] for r in runs) for m, runs in got.items()}
        client = statistics.median(r["client_frames"] for r in got["rtsp_client"])
        result[name] = {"model": path, "frames_per_run": frames, "fps": {m: round(v, 2) for m, v in fps.items()},
                        "save_masks_ratio": round(fps["save_masks"] / fps["none"], 3),
                        "rtsp_ratio": round(fps["rtsp_client"] / fps["none"], 3),
                        "client_frames_share": round(client / frames, 3), "rounds": got}
        rows.append([name, f"{fps['none']:.1f}", f"{fps['save_masks']:.1f} ({fps['save_masks'] / fps['none']:.2f}x)",
                     f"{fps['rtsp_client']:.1f} ({fps['rtsp_client'] / fps['none']:.2f}x)", f"{client / frames:.0%}"])
    print(table(["model", "no output FPS", "--save-masks", "--save rtsp:// + 1 client", "frames the client got"],
                rows))
    if args.out:
        save(args.out.stem, {"clip": "first 100 CamVid val frames, 360x480, --loop", "models": result})


if __name__ == "__main__":
    main()
