"""Training throughput (images/s) and the share of step time spent waiting for data.

    python benchmarks/train_throughput.py [--steps 12]

Widths 32 and 16 of the seeds' U-Net, at 96x128 and 360x480, on synthetic 360x480 frames
(the loader decodes PNGs and augments them in worker processes, as on real data).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import save, synth_data, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    from unet_edge.training import TrainConfig
    from unet_edge.training.trainer import Trainer

    rows, out = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = synth_data(Path(tmp) / "data", 120)
        for width in (32, 16):
            for size in ((96, 128), (360, 480)):
                cfg = TrainConfig(data=str(data), dataset="folder", arch="unet", width=width, size=size, epochs=2,
                                  batch=args.batch, max_steps=args.steps, out=str(Path(tmp) / "run"), seed=0)
                trainer = Trainer(cfg, log=lambda _m: None)
                trainer._train_epoch(0)  # warm-up epoch: worker start, allocator, first-iteration costs
                stats = trainer._train_epoch(1)
                rec = {"width": width, "size": list(size), "batch": args.batch, "images_per_s": stats["images_per_s"],
                       "data_wait_share": stats["data_wait"], "workers": trainer.workers}
                out.append(rec)
                rows.append([width, f"{size[0]}x{size[1]}", args.batch, f"{stats['images_per_s']:.1f}",
                             f"{100 * stats['data_wait']:.1f}%", trainer.workers])
                print(rows[-1], flush=True)
    print(table(["width", "size", "batch", "images/s", "data wait", "loader workers"], rows))
    save("train_throughput", {"rows": out, "steps": args.steps})


if __name__ == "__main__":
    main()
