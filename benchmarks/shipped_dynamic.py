"""Make the shipped ``camvid-lite0`` dynamic (any batch, height and width) without its checkpoint, and
rewrite its card: what ``make camvid-lite0`` now exports directly with ``--dynamic``.

    .venv/bin/python benchmarks/shipped_dynamic.py --data ../shared/data/camvid [--holdout LINE]

The fixed export's graph resizes by scale factors (its decoder's and head's Resize nodes take scales,
none a size), so only its declared input and output dims and its contract (shape, ``multiple_of``,
``dynamic``) change; the weights and every node stay. Checked before the file and card are replaced: ONNX's
checker, the masks at 352x480 equal the fixed file's on every val frame, and the graph gives masks at
the input's size at 320x544. The card's val figures are re-scored by ``unet-edge eval``'s code.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import CAMVID  # noqa: E402
from benchmarks.shipped_model import HOLDOUT_NOTE, NAME, SIZE, sha256, write_card  # noqa: E402

MULTIPLE = 32  # EfficientNet-Lite's output stride: what a --dynamic export of it records
# What the fixed file's card said in prose only (its JSON block then held fewer fields): kept as it was.
FIXED_CARD = {"fp16_storage_pixels_changed": 7148, "pixels": 101 * 352 * 480, "fp16_storage_mb": 7.6,
              "train_minutes": 42.0, "epochs": 15}


def relax(src: Path, dest: Path) -> dict:
    """Write ``src`` with free N, H and W to ``dest``; returns its contract."""
    import onnx

    from unet_edge.export.onnx_export import check, read_metadata, set_metadata

    model = onnx.load(str(src))
    sizes = [n for n in model.graph.node if n.op_type == "Resize" and len(n.input) > 3 and n.input[3]]
    if sizes:
        raise SystemExit(f"{src}: Resize nodes with fixed sizes ({sizes[0].name}): export it with --dynamic")
    for value, names in ((model.graph.input[0], ("N", "H", "W")), (model.graph.output[0], ("N", "H", "W"))):
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            dim.ClearField("dim_value")
            dim.dim_param = name
    del model.graph.value_info[:]  # shapes inferred again, for the free dims
    meta = read_metadata(src)
    meta["input"] = {**meta["input"], "shape": ["N", "H", "W", 3], "multiple_of": MULTIPLE}
    meta["outputs"] = [{**o, "shape": ["N", "H", "W"]} for o in meta["outputs"]]
    meta["dynamic"] = True
    for key in ("artifact_sha256", "format", "version", "version_minor"):
        meta.pop(key, None)
    check(model, dest.name)
    set_metadata(model, meta)
    onnx.save_model(model, str(dest))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=CAMVID)
    ap.add_argument("--holdout", default=HOLDOUT_NOTE, help="the card's line on 0006R0 held out of a training")
    args = ap.parse_args()
    import numpy as np

    from unet_edge.core.artifact import load_meta
    from unet_edge.core.shipped import SHIPPED_DIR
    from unet_edge.eval_config import EvalConfig
    from unet_edge.evaluate import evaluate_path
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.verify import onnx_masks
    from unet_edge.runtime.runners import open_runner

    shipped = SHIPPED_DIR / f"{NAME}.onnx"
    text = (SHIPPED_DIR / f"{NAME}.md").read_text()
    card = json.loads(text[text.index("```json") + 7: text.rindex("```")])
    work = Path(tempfile.mkdtemp())
    dest = work / shipped.name
    contract = relax(shipped, dest)
    frames, _, _ = load_frames(f"camvid:{args.data}", SIZE, 10_000, "val")
    before = onnx_masks(shipped, frames, load_meta(shipped).to_dict())
    after = onnx_masks(dest, frames, load_meta(dest).to_dict())
    differ = sum(int((a != b).sum()) for a, b in zip(before, after))
    if differ:
        raise SystemExit(f"the relaxed graph's masks differ from the fixed one's in {differ} pixels: not replaced")
    with open_runner(dest, input_size=(320, 544)) as r:
        out = r.infer(np.zeros((320, 544, 3), np.uint8))
    if out.shape != (320, 544):
        raise SystemExit(f"the relaxed graph gives {out.shape} masks for a 320x544 frame: not replaced")
    print(f"masks equal on {len(frames)} val frames at {SIZE[0]}x{SIZE[1]}; 320x544 gives {out.shape}")
    report = evaluate_path(EvalConfig(model=dest, data=args.data, layout="camvid", split="val"))
    scores = report["scores"]
    card.update(sha256=sha256(dest), bytes=dest.stat().st_size,
                contract={k: contract[k] for k in ("input", "classes", "palette", "arch") if k in contract},
                val={"frames": report["frames"], "miou": round(scores["miou"], 4),
                     "pixel_acc": round(scores["pixel_acc"], 4),
                     "iou": {k: (None if v is None else round(v, 4)) for k, v in scores["iou"].items()}})
    write_card({**FIXED_CARD, **card, "holdout": args.holdout}, model=dest)  # the file and card together


if __name__ == "__main__":
    main()
