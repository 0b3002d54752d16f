"""End-of-training outputs: a training-curve PNG and a one-screen summary."""

from __future__ import annotations

import math
from pathlib import Path

from unet_edge.core.io import atomic_path


def plot_curves(history: list[dict], dest: Path) -> Path | None:
    """Loss and val mIoU / pixel accuracy per epoch; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(epochs, [r["loss"] for r in history], color="tab:red", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(epochs, [r["miou"] for r in history], color="tab:blue", label="val mIoU")
    ax2.plot(epochs, [r["pixel_acc"] for r in history], color="tab:green", label="val pixel acc")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("score")
    fig.legend(loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return dest


def summary(history: list[dict], out: Path, curve: Path | None) -> str:
    """A compact text summary of the best epoch and the run's speed."""
    if not history:
        return "no epoch completed"
    best = max(history, key=lambda r: r["miou"])
    ips = sum(r["images_per_s"] for r in history) / len(history)
    wait = sum(r["data_wait"] for r in history) / len(history)
    lines = [f"best epoch {best['epoch']}/{history[-1]['epoch']}: val mIoU {best['miou']:.4f}  "
             f"pixel acc {best['pixel_acc']:.4f}  mean acc {best['mean_acc']:.4f}",
             f"throughput {ips:.1f} img/s, {100 * wait:.0f}% of step time waiting for data", "per-class IoU:"]
    for name, v in best["iou"].items():
        bar = "" if v is None or math.isnan(v) else "#" * int(round(20 * v))
        val = "  n/a" if v is None or math.isnan(v) else f"{v:.3f}"
        lines.append(f"  {name:<14} {val}  {bar}")
    lines.append(f"checkpoints: {out / 'best.pt'} (best), {out / 'last.pt'} (resume with --resume)")
    if curve:
        lines.append(f"training curve: {curve}")
    return "\n".join(lines)
