"""The demo's training recipe against its alternatives, on synthetic scenes of a seed the demo does not use.

Each candidate trains on the same synthesized scenes (the demo's count and size) and is scored on their
val split at the scene's size, as ``unet-edge demo`` scores it; the wall time of each training is
printed beside its mIoU and per-class IoU. Run it with nothing else on the cores:

    .venv/bin/python benchmarks/demo_recipe.py --seed 1 --out benchmarks/results/demo_recipe.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from unet_edge.demo import DEMO_RECIPE

CANDIDATES = {
    # what the demo trained before: unet-lite from scratch on whole frames at the crop size
    "unet-lite, scratch": {"arch": "unet-lite", "batch": 16, "lr": 3e-3, "scale": (0.9, 1.3), "class_weights": "none",
                           "val_at_frame_size": False},
    "lite0, the training recipe": {"arch": "unet-efficientnet-lite0", "batch": 16},
    "lite0, demo recipe, no class weights": {**DEMO_RECIPE, "class_weights": "none"},
    "lite0, demo recipe, batch 16": {**DEMO_RECIPE, "batch": 16},
    "lite0, demo recipe": DEMO_RECIPE,
    "lite0, demo recipe, no logit adjustment": {**DEMO_RECIPE, "logit_adjust": 0.0},
    "lite0, demo recipe, logit adjustment 1.0": {**DEMO_RECIPE, "logit_adjust": 1.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="scenes' seed (the demo's is 0)")
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", default="96x128", help="crop HxW; scenes render at twice it")
    ap.add_argument("--epochs", type=int, default=None, help="default: what the demo's time fits on 2 cores")
    ap.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/demo_recipe.json"))
    args = ap.parse_args()

    from unet_edge.demo import START_EPOCHS
    from unet_edge.evaluate import EvalConfig, evaluate_path
    from unet_edge.synth.writer import write_synth
    from unet_edge.training import TrainConfig, train

    epochs = args.epochs or START_EPOCHS  # a fixed count: the candidates compare on equal steps
    h, w = (int(v) for v in args.size.split("x"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_synth(data, frames=args.frames, size=(2 * h, 2 * w), seed=args.seed, clip_frames=0, force=True)
        for name, recipe in CANDIDATES.items():
            if args.only and name not in args.only:
                continue
            run = Path(tmp) / name.replace(" ", "_").replace(",", "")
            t = time.perf_counter()
            train(TrainConfig(data=str(data), dataset="folder", size=(h, w), epochs=epochs, seed=0, out=str(run),
                              **recipe), log=lambda _m: None)
            seconds = time.perf_counter() - t
            report = evaluate_path(EvalConfig(run / "best.pt", data, "folder", "val", None, None, 0, None))
            s = report["scores"]
            results[name] = {"train_seconds": round(seconds, 1), "miou": s["miou"], "iou": s["iou"],
                             "input_size": report["input_size"]}
            cls = "  ".join(f"{c} {v:.2f}" for c, v in s["iou"].items() if v is not None)
            print(f"{name:<40} {seconds:6.0f} s  mIoU {s['miou']:.3f}  {cls}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": args.seed, "frames": args.frames, "crop": [h, w], "epochs": epochs,
                                    "results": results}, indent=1))


if __name__ == "__main__":
    main()
