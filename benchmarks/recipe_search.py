"""Score recipe candidates trained with ``--holdout 0006R0`` on that sequence, at the frames' own 360x480.

    unet-edge train --data ../shared/data/camvid --holdout 0006R0 --size 240x320 --epochs 20 \
        --loss ce --class-weights median --out runs/A        # and --loss ce+dice ... for B, C ...
    python benchmarks/recipe_search.py A=runs/A B=runs/B C=runs/C [--out recipe_search_lovasz]

CamVid val (sequence 0016E5) is never looked at here: settings are chosen on a street no candidate
trained on, then the chosen recipe is retrained on all of train.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import save, table
from model_table import score


def main() -> None:
    import torch

    from unet_edge.models.unet_effnet import DECODER

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="NAME=RUN_DIR, each trained with --holdout 0006R0")
    ap.add_argument("--out", default="recipe_search", help="results/OUT.json")
    args = ap.parse_args()
    rows = []
    for spec in args.runs:
        name, run = spec.split("=", 1)
        last = torch.load(Path(run) / "last.pt", map_location="cpu", weights_only=True)
        train = last["train_args"]
        held = score(Path(run) / "best.pt", "val", "0006R0")
        rows.append({"name": name, "arch": last["arch"], "loss": train["loss"], "class_weights": train["class_weights"],
                     "ema": train["ema"], "epochs": train["epochs"], "size": train["size"], "seed": train["seed"],
                     "decoder": list(last["model_options"].get("decoder", DECODER)),
                     "scale": list(train.get("scale", (0.75, 1.5))), "logit_adjust": train.get("logit_adjust", 0),
                     "rare_crop": train.get("rare_crop", 0.0),
                     "minutes": sum(h["epoch_s"] for h in last["history"]) / 60,
                     "holdout_miou_train_val": float(last["best_miou"]),
                     "holdout_miou": held["miou"], "holdout_iou": held["iou"],
                     "raw_vs_ema": [(h.get("miou_raw"), h["miou"]) for h in last["history"]][-1]})
    thin = ("Pole", "SignSymbol", "Fence", "Pedestrian", "Bicyclist")
    print(table(["run", "arch", "loss", "class weights", "scale", "decoder", "rare crops", "epochs", "seed",
                 "0006R0 mIoU at 360x480", *thin,
                 "EMA / raw (last epoch)", "minutes"],
                [[r["name"], r["arch"].removeprefix("unet-efficientnet-"), r["loss"], r["class_weights"],
                  "{}-{}".format(*r["scale"]),
                  ",".join(map(str, r["decoder"])), f"{r['rare_crop']:g}",
                  r["epochs"], r["seed"], f"{r['holdout_miou']:.3f}",
                  *[f"{r['holdout_iou'][c]:.3f}" for c in thin],
                  f"{r['raw_vs_ema'][1]:.3f} / {r['raw_vs_ema'][0]:.3f}" if r["raw_vs_ema"][0] else "-",
                  f"{r['minutes']:.1f}"]
                 for r in rows]))
    save(args.out, {"rows": rows, "holdout": "0006R0"})


if __name__ == "__main__":
    main()
