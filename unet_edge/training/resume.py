"""``unet-edge train --resume``: a run continued from its last.pt where it stopped."""

from __future__ import annotations

import torch

from unet_edge.core.errors import CheckpointError
from unet_edge.models.checkpoint import load_checkpoint


def resume(t) -> None:
    """Continue ``t`` (a Trainer) from its ``last.pt``: raw weights, optimiser, schedule, epoch count,
    gradient scaler, EMA, history and RNG state."""
    path = t.out / "last.pt"
    ckpt = load_checkpoint(path, map_location=t.d.device)
    if ckpt.arch != t.cfg.arch or ckpt.model_options != t.model_options:
        raise CheckpointError(f"{path}: was trained as {ckpt.arch} {ckpt.model_options}, "
                              f"not {t.cfg.arch} {t.model_options}; resume with the same --arch/--width")
    state = ckpt.resume
    if state is None:
        raise CheckpointError(f"{path}: holds no optimiser state; cannot resume from it")
    t._own(t.model).load_state_dict(state.raw_state_dict)
    t.opt.load_state_dict(state.optimizer)
    t.sched.load_state_dict(state.scheduler)
    if t.cfg.time is not None:  # the epoch count --time chose when the run started
        t._set_epochs(int(ckpt.train_args["epochs"]))
    t.scaler.load_state_dict(state.scaler)
    if t.ema is not None and state.ema is not None:
        t.ema.load_state_dict(state.ema)
    t.history, t.best = list(state.history), state.best_miou
    t.start_epoch = state.epoch + 1
    torch.set_rng_state(state.rng_torch.cpu())
    t.log(f"resuming {path} at epoch {t.start_epoch + 1}/{t.cfg.epochs} (best mIoU {t.best:.4f})")
