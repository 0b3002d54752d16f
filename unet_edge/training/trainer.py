"""The training loop: AdamW + cosine schedule, weight EMA, AMP on CUDA, DDP under torchrun, resumable."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unet_edge.core.errors import DataError
from unet_edge.data import open_dataset
from unet_edge.data.base import median_frequency_weights, rare_classes
from unet_edge.data.transforms import EvalTransform, TrainTransform
from unet_edge.models.checkpoint import build_meta, save_checkpoint
from unet_edge.models.normalize import Normalizer
from unet_edge.training import distributed as D
from unet_edge.training.bn_stats import BatchNormRefresh
from unet_edge.training.config import TrainConfig
from unet_edge.training.loader import TorchSegDataset, default_workers, make_loader
from unet_edge.training.logit_adjust import adjusted, class_head, head_bias, offsets
from unet_edge.training.losses import SegLoss
from unet_edge.training.model import build_model, source_meta
from unet_edge.training.optim import Ema, cosine, param_groups
from unet_edge.training.progress import Progress
from unet_edge.training.resume import resume
from unet_edge.training.speed import StepShape, choose_bf16, contiguous_state, step_key, to_memory_format
from unet_edge.training.validation import score

RAW_EVERY = 5  # epochs between scorings of the raw weights beside the EMA's


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Builds data, model and optimiser from a TrainConfig and runs the epochs."""

    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.d = D.setup(cfg.device)
        self.log = log if self.d.main else (lambda _msg: None)
        self.out = Path(cfg.out)
        seed_everything(cfg.seed + self.d.rank)
        opts = {"num_classes": cfg.num_classes, "val_fraction": cfg.val_fraction, "holdout": cfg.holdout}
        self.train_ds = open_dataset(cfg.dataset, cfg.data, "train", **opts)
        self.val_ds = open_dataset(cfg.dataset, cfg.data, "val", **opts)
        self.info = self.train_ds.info
        # the input contract of a --model-class model (None for an architecture), recorded in the checkpoints
        model, self.model_options, self.contract = build_model(cfg, self.info, self.log)
        model = model.to(self.d.device)
        # channels_last is oneDNN's fastest layout for these convolutions; a --model-class model keeps its own.
        self.channels_last = (cfg.channels_last if cfg.channels_last is not None
                              else self.d.device.type == "cpu" and self.contract is None)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.d.world_size > 1 and self.d.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model
        self.net = model if self.d.world_size == 1 else nn.parallel.DistributedDataParallel(
            model, device_ids=[self.d.local_rank] if self.d.device.type == "cuda" else None)
        self.norm = Normalizer(cfg.mean, cfg.std).to(self.d.device)
        # Median-frequency weights of the training frames: the loss's (--class-weights median) and, where
        # above 1, the classes that rare-class crops look for.
        freq_weights = None
        if cfg.class_weights == "median" or cfg.rare_crop > 0:
            freq_weights = median_frequency_weights(*self.train_ds.class_counts())
        self.rare = rare_classes(freq_weights) if cfg.rare_crop > 0 else ()
        self._loaders()
        weights = None
        if cfg.class_weights == "median":
            weights = torch.from_numpy(freq_weights).to(self.d.device)
        self.criterion = SegLoss(cfg.loss, weights, self.info.ignore_index)
        # Validated and saved with the class head's bias adjusted; trained (and resumed) without it.
        self.offset = offsets(weights, cfg.logit_adjust) if weights is not None and cfg.logit_adjust else None
        # A user's model whose class head has no bias gets the offsets added to its output instead.
        self.head_key = "" if self.offset is None else (
            head_bias(self._own(self.model), self.info.num_classes) if self.contract is not None
            else class_head(self.model, self.info.num_classes))
        # fused: one kernel over all the tensors instead of a loop of small ops per tensor on the CPU
        self.opt = torch.optim.AdamW(param_groups(self.model, cfg.lr, cfg.weight_decay, cfg.encoder_lr_scale),
                                     fused=True if self.d.device.type == "cpu" else None)
        self.ema = Ema(self.model, cfg.ema) if cfg.ema > 0 else None
        self.bn = BatchNormRefresh(self.model)  # slow-averaging BN statistics recomputed before validation
        steps = self.steps_per_epoch * cfg.epochs
        self.warmup = min(200, steps // 20 + 1)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, cosine(steps, self.warmup))
        self.amp = cfg.amp and self.d.device.type == "cuda"
        self.bf16 = self.d.device.type == "cpu" and self._choose_bf16()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        # The size the model is meant to run at: what it was validated at (export and eval default to it).
        self.meta = build_meta(cfg.arch, self.model_options, self.info, cfg.mean, cfg.std, self.val_size,
                               cfg.to_dict())
        if self.contract is not None:
            self.meta.update(source_meta(cfg, self.model_options, self.contract, self.val_size))
        self.history: list[dict] = []
        self.start_epoch, self.best = 0, -1.0
        if cfg.resume:
            resume(self)

    def _choose_bf16(self) -> bool:
        """The bf16 setting, timed against FP32 on this CPU for "auto"; every process takes the same."""
        cfg = self.cfg
        key = step_key(cfg.arch, self.model_options, cfg.size, cfg.batch, cfg.loss, self.channels_last)
        shape = StepShape(cfg.batch, cfg.size, self.info.num_classes, self.channels_last)
        chosen = choose_bf16(cfg.bf16, self.model, self.criterion, key, shape, self.log)
        chosen = bool(D.all_sum(np.array([float(chosen)]), self.d)[0] * 2 > self.d.world_size)
        cfg.bf16 = chosen  # recorded resolved in the checkpoints
        return chosen

    def _own(self, model: nn.Module) -> nn.Module:
        """The user's module inside the wrapper of a --model-class run (its state dict is what is saved)."""
        return model.model if self.contract is not None else model

    def _loaders(self) -> None:
        cfg, d = self.cfg, self.d
        workers = cfg.workers if cfg.workers >= 0 else default_workers(d.world_size)
        tt = TrainTransform(cfg.size, self.info.ignore_index, cfg.scale, jitter=cfg.jitter,
                            rare=self.rare, rare_p=cfg.rare_crop)
        self.train_set = TorchSegDataset(self.train_ds, tt, cfg.seed)
        pin = d.device.type == "cuda"
        self.train_loader = make_loader(self.train_set, cfg.batch, True, workers, pin, d.rank, d.world_size, cfg.seed)
        # Validate at the frames' own size (the first val frame's, for layouts of mixed sizes), as eval
        # scores: judged at the crop size, a recipe that loses thin classes at full resolution can win.
        val_size = self.val_ds[0][1].shape if cfg.val_at_frame_size else cfg.size
        self.val_size = tuple(int(v) for v in val_size)
        val_set = TorchSegDataset(self.val_ds, EvalTransform(self.val_size), cfg.seed)
        self.val_loader = make_loader(val_set, cfg.batch, False, min(workers, 2), pin, d.rank, d.world_size, cfg.seed)
        self.steps_per_epoch = len(self.train_loader)
        if cfg.max_steps:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_steps)
        if self.steps_per_epoch == 0:
            raise DataError(f"{cfg.data}: fewer training samples than one batch per process")
        self.workers = workers

    def fit(self) -> dict:
        """Run the remaining epochs; returns the summary of the best epoch."""
        self.out.mkdir(parents=True, exist_ok=True)
        cfg = self.cfg
        self.log(f"recipe: {cfg.epochs} epochs, {cfg.size[0]}x{cfg.size[1]} crops, batch {cfg.batch}, lr {cfg.lr:g} "
                 f"(encoder x{cfg.encoder_lr_scale:g}), loss {cfg.loss}, class weights {cfg.class_weights}, "
                 f"EMA {cfg.ema:g}" + (f", logit adjustment {cfg.logit_adjust:g}" if self.offset is not None else "")
                 + (", bf16 autocast" if self.bf16 else "")
                 + (", BN statistics recomputed before validation" if self.bn.needed else "")
                 + (f", rare-class crops {cfg.rare_crop:g} (classes {', '.join(self.info.names[c] for c in self.rare)})"
                    if self.rare else "")
                 + (f", val = held-out '{cfg.holdout}' frames" if cfg.holdout else ""))
        self.log(f"training {self.cfg.arch} {self.model_options} on {len(self.train_ds)} frames "
                 f"({len(self.val_ds)} val), {self.info.num_classes} classes, {self.cfg.size[0]}x{self.cfg.size[1]}, "
                 f"device {self.d.device}{', channels_last' if self.channels_last else ''}, "
                 f"{self.d.world_size} process(es), {self.workers} loader workers")
        started, epoch = time.monotonic(), self.start_epoch
        fitting = cfg.time is not None and self.start_epoch == 0  # a resumed run keeps the count it chose
        try:
            while epoch < self.cfg.epochs:
                row = {"epoch": epoch + 1, **self._train_epoch(epoch), **self._validate(epoch)}
                self.history.append(row)
                if fitting:  # before saving: the checkpoints record the count
                    self._fit_to_budget(self._agreed(time.monotonic() - started), epoch + 1)
                self._save(epoch, row)
                self.log(f"epoch {epoch + 1}/{self.cfg.epochs}  loss {row['loss']:.4f}  val mIoU {row['miou']:.4f}"
                         + (f" (raw weights {row['miou_raw']:.4f})" if "miou_raw" in row else "") + "  "
                         f"pixel acc {row['pixel_acc']:.4f}  {row['images_per_s']:.1f} img/s  "
                         f"data wait {100 * row['data_wait']:.0f}%")
                if cfg.time is not None and epoch > 0:
                    spent = self._agreed(time.monotonic() - started)
                    if spent >= 60 * cfg.time and epoch + 1 < self.cfg.epochs:
                        self.log(f"--time {cfg.time:g} min spent after epoch {epoch + 1}: stopping (best.pt is kept)")
                        break
                epoch += 1
        finally:
            D.barrier(self.d)
        return {"history": self.history, "best_miou": self.best, "out": str(self.out)}

    def _agreed(self, seconds: float) -> float:
        """The processes' mean of ``seconds``: under torchrun every rank must take the same decision."""
        return float(D.all_sum(np.array([seconds]), self.d)[0]) / self.d.world_size

    def _fit_to_budget(self, spent_s: float, done: int = 1) -> None:
        """Set the epoch count so that the run fits ``--time``, from the mean time of the ``done`` epochs
        so far (validation included), and stretch or shrink the cosine schedule to it. Re-fitted after
        every epoch, as Ultralytics does: a first epoch slowed by other work on the machine would
        otherwise cut the run short for good."""
        budget = 60 * self.cfg.time
        per_epoch = max(spent_s / done, 1e-6)
        epochs = max(done, done + int(max(budget - spent_s, 0.0) // per_epoch))
        if epochs == self.cfg.epochs:
            return
        self.log(f"--time {self.cfg.time:g} min: {per_epoch / 60:.1f} min an epoch, so {epochs} epochs "
                 f"(not {self.cfg.epochs})")
        self._set_epochs(epochs)

    def _set_epochs(self, epochs: int) -> None:
        self.cfg.epochs = epochs
        self.meta["train_args"]["epochs"] = epochs  # what the checkpoints record and --resume continues
        total = self.steps_per_epoch * epochs
        self.sched.lr_lambdas = [cosine(total, self.warmup) for _ in self.opt.param_groups]

    def _train_epoch(self, epoch: int) -> dict:
        self.net.train()
        self.train_set.epoch = epoch
        if hasattr(self.train_loader.sampler, "set_epoch"):
            self.train_loader.sampler.set_epoch(epoch)
        cuda = self.d.device.type == "cuda"
        total_loss, seen, wait, steps = 0.0, 0, 0.0, self.steps_per_epoch
        bar = Progress(steps, f"epoch {epoch + 1}/{self.cfg.epochs}", enabled=self.d.main)
        t0 = tick = time.perf_counter()
        for step, (images, masks) in enumerate(self.train_loader):
            if step >= steps:
                break
            wait += time.perf_counter() - tick
            images = images.to(self.d.device, non_blocking=True)
            masks = masks.to(self.d.device, non_blocking=True)
            self.bn.keep(images)
            with self._autocast():
                loss = self.criterion(self.net(self._input(images)), masks)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1} step {step}; lower --lr")
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            if self.ema is not None:
                self.ema.update(self.model)
            if cuda:
                torch.cuda.synchronize()  # so that 'data wait' is not hidden behind queued kernels
            total_loss += loss.item() * images.shape[0]
            seen += images.shape[0]
            elapsed = time.perf_counter() - t0
            bar.update(step + 1, f"loss {total_loss / seen:.4f}  {seen * self.d.world_size / elapsed:.1f} img/s")
            tick = time.perf_counter()
        bar.close()
        elapsed = time.perf_counter() - t0
        stats = D.all_sum(np.array([total_loss, seen]), self.d)
        return {"loss": float(stats[0] / max(stats[1], 1)), "images_per_s": float(stats[1] / elapsed),
                "data_wait": wait / elapsed, "lr": self.opt.param_groups[0]["lr"], "epoch_s": elapsed}

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC frames -> the normalised batch, in the step's memory format."""
        return to_memory_format(self.norm(images), self.channels_last)

    def _autocast(self):
        if self.bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.amp)

    def _validate(self, epoch: int) -> dict:
        """Scores of the weights that get saved (the EMA when on), which choose best.pt; the raw weights'
        mIoU beside them every RAW_EVERY epochs and at the last, a diagnostic that would otherwise double
        the cost of validating."""
        if self.ema is None:
            return self._score(self.model)
        row = self._score(self.ema.model)
        if (epoch + 1) % RAW_EVERY == 0 or epoch + 1 >= self.cfg.epochs:
            row["miou_raw"] = self._score(self.model)["miou"]
        return row

    def _score(self, model: nn.Module) -> dict:
        self.bn.apply(model, self._input)
        return score(model, self.val_loader, self.d, lambda images: self._input(images), self._autocast,
                     self.offset, self.info.names)

    def _save(self, epoch: int, row: dict) -> None:
        if not self.d.main:
            return
        metrics = {k: row[k] for k in ("miou", "pixel_acc", "mean_acc", "iou", "epoch")}
        # The EMA weights are the model: they are what best.pt holds and what export bakes in.
        saved = self.ema.model if self.ema is not None else self.model
        # Saved contiguous: the same tensors whatever memory format training ran in.
        state = contiguous_state({k: v.detach().cpu() for k, v in self._own(saved).state_dict().items()})
        tags = {}  # what both checkpoints carry beside the weights
        extra = {"ema": contiguous_state(self.ema.state_dict())} if self.ema is not None else {}
        if self.ema is not None or self.offset is not None:  # what --resume trains on
            extra["raw_state_dict"] = contiguous_state({k: v.detach().cpu()
                                                        for k, v in self._own(self.model).state_dict().items()})
        if self.offset is not None:
            tags["logit_offsets"] = self.offset.tolist()
            if self.head_key:
                state = adjusted(state, self.head_key, self.offset)
            else:
                tags["logit_offsets_at"] = "output"
        if row["miou"] > self.best:
            self.best = row["miou"]
            save_checkpoint(self.out / "best.pt", self.meta, state, metrics=metrics, epoch=epoch, **tags)
        save_checkpoint(self.out / "last.pt", self.meta, state, metrics=metrics, epoch=epoch,
                        optimizer=contiguous_state(self.opt.state_dict()), scheduler=self.sched.state_dict(),
                        scaler=self.scaler.state_dict(), history=self.history, best_miou=self.best,
                        rng={"torch": torch.get_rng_state()}, **extra, **tags)
