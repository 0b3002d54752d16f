"""A 16:9 and a 4:3 camera through one dynamic model: each at its own aspect (the default: two infers
of one frame per round, 320x544 and 352x480 through ``camvid-lite0``) against both at one size
(``--size 352x480``: one batch of two, the 16:9 frames stretched). One run, the two ways alternated.

    .venv/bin/python benchmarks/mixed_aspect.py [--model camvid-lite0] [--frames 60] [--rounds 3]

The clips are CamVid val frames (synthetic scenes without CamVid), the 16:9 one cut from them; they
are read as files (every frame inferred), so the figure is the model's throughput, not a camera's rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _common import CAMVID, save, synth_data, table


def clips(folder: Path, frames: int) -> list[Path]:
    images = sorted((CAMVID / "val").glob("*.png"))[:frames] if (CAMVID / "val").is_dir() else []
    if not images:
        images = sorted((synth_data(folder / "synth", frames) / "images").glob("*.png"))[:frames]
    frames = [cv2.imread(str(p)) for p in images]
    h, w = frames[0].shape[:2]
    out = []
    for name, cut in (("wide.mp4", True), ("four_three.mp4", False)):
        top = (h - w * 9 // 16) // 2 if cut else 0
        writer = cv2.VideoWriter(str(folder / name), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h - 2 * top))
        for frame in frames:
            writer.write(frame[top:h - top])
        writer.release()
        out.append(folder / name)
    return out


def once(model: str, sources: list[Path], size: tuple[int, int] | None) -> dict:
    from unet_edge.runtime.segmenter import Segmenter

    with Segmenter(model, input_size=size) as seg:
        t0 = time.perf_counter()
        pipe = seg.pipeline([str(s) for s in sources])
        n = sum(1 for _ in pipe.frames())
        wall = time.perf_counter() - t0
    s = pipe.summary()
    return {"fps": n / wall, "frames": n, "batch_sizes": s["batch_sizes"], "input_sizes": s["input_sizes"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="camvid-lite0")
    ap.add_argument("--frames", type=int, default=60, help="frames per clip")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mixed-aspect-"))
    sources = clips(work, args.frames)
    ways = {"each at its own aspect (default)": None, "both at 352x480 (--size)": (352, 480)}
    once(args.model, sources, None)  # warm-up: the first session load and file reads
    runs: dict[str, list[dict]] = {k: [] for k in ways}
    for _ in range(args.rounds):
        for k, size in ways.items():
            runs[k].append(once(args.model, sources, size))
    rows, result = [], {}
    for k, rs in runs.items():
        fps = float(np.median([r["fps"] for r in rs]))
        result[k] = {"fps_median": round(fps, 2), "fps": [round(r["fps"], 2) for r in rs],
                     "batch_sizes": rs[-1]["batch_sizes"], "input_sizes": rs[-1]["input_sizes"]}
        rows.append([k, f"{fps:.1f}", rs[-1]["batch_sizes"], rs[-1]["input_sizes"]])
    print(table(["way", "frames/s, both streams (median)", "batch sizes", "frames at each size"], rows))
    save("mixed_aspect", {"model": args.model, "frames_per_clip": args.frames, "rounds": args.rounds,
                          "result": result})


if __name__ == "__main__":
    main()
