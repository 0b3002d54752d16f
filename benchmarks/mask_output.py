"""The cost of ``run --save-masks``: PNG encoders on real class maps, and ``run``'s throughput with and
without it, measured in one process side by side.

    .venv/bin/python benchmarks/mask_output.py --model RUN.onnx --frames ../shared/data/camvid/val --out r.json

Encoders: our palette PNG (zlib level 1), the same at zlib level 6, OpenCV's grayscale PNG (not a palette:
no colours in a viewer) and Pillow's palette PNG; the median ms per map and bytes per map. Throughput:
``run`` over the image folder with no output, then with --save-masks, alternated for ``--rounds`` rounds.
"""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
from _common import model_and_input

from unet_edge.runtime import masks as mk
from unet_edge.runtime.run import RunConfig, run_stream
from unet_edge.runtime.segmenter import Segmenter


def encoders(palette):
    from PIL import Image

    flat = [c for rgb in palette for c in rgb]

    def pil(mask):
        img = Image.fromarray(mask, "P")
        img.putpalette(flat)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return buf.getvalue()

    def level6(mask):
        old, mk.ZLIB_LEVEL = mk.ZLIB_LEVEL, 6
        try:
            return mk.palette_png(mask, palette)
        finally:
            mk.ZLIB_LEVEL = old

    return {"palette_png_zlib1": lambda m: mk.palette_png(m, palette), "palette_png_zlib6": level6,
            "opencv_gray_png": lambda m: cv2.imencode(".png", m)[1].tobytes(), "pillow_palette_png": pil}


def main() -> None:
    ap = model_and_input(__doc__, "--frames", "an image folder")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    files = sorted(args.frames.glob("*.png"))[: args.count]
    with Segmenter(args.model) as seg:
        maps = [seg(cv2.imread(str(f))) for f in files]
        palette = seg.palette
    enc = {}
    for name, fn in encoders(palette).items():
        ms, size = [], []
        for m in maps:
            t = time.perf_counter()
            data = fn(m)
            ms.append(1e3 * (time.perf_counter() - t))
            size.append(len(data))
        enc[name] = {"ms": round(statistics.median(ms), 3), "kb": round(statistics.mean(size) / 1024, 1)}
    sub = Path(tempfile.mkdtemp()) / "frames"
    sub.mkdir()
    for f in files:
        (sub / f.name).symlink_to(f.resolve())
    fps = {"none": [], "save_masks": []}
    for _ in range(args.rounds):
        for key in fps:
            out = Path(tempfile.mkdtemp()) / "m" if key == "save_masks" else None
            summary = run_stream(RunConfig(args.model, str(sub), save_masks=out, hud=False), log=lambda _m: None)
            fps[key].append(summary["fps"])
    rate = {k: round(statistics.median(v), 2) for k, v in fps.items()}
    result = {"model": str(args.model), "frames": len(files), "size": list(maps[0].shape), "encoders": enc,
              "run_fps": rate, "save_masks_ratio": round(rate["save_masks"] / rate["none"], 3)}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
