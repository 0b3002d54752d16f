"""Training: ``train(TrainConfig)`` runs a (resumable, optionally distributed) training job."""

from __future__ import annotations

from collections.abc import Callable

from unet_edge.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict:
    """Train per ``cfg``; writes best.pt, last.pt, curve.png and summary.txt into ``cfg.out``."""
    from pathlib import Path

    from unet_edge.training import distributed as D
    from unet_edge.training.report import plot_curves, summary
    from unet_edge.training.run_folder import check_run_folder
    from unet_edge.training.trainer import Trainer

    check_run_folder(cfg)  # before the data is read: nothing of an earlier run is lost
    trainer = Trainer(cfg, log)
    try:
        result = trainer.fit()
        if trainer.d.main:
            out = Path(cfg.out)
            curve = plot_curves(result["history"], out / "curve.png")
            text = summary(result["history"], out, curve)
            (out / "summary.txt").write_text(text + "\n")
            log(text)
            result["curve"] = str(curve) if curve else None
        return result
    finally:
        D.teardown(trainer.d)
