"""Training throughput of the default model as its recipe trains it, and the recipe's projected time.

    python benchmarks/train_throughput.py [--rounds 3] [--steps 2] [--no-compile]

unet-efficientnet-lite0 at the recipe's 288x384 crops, batch 8, median-weighted CE + Lovász, AdamW,
EMA, on CamVid (``UNET_EDGE_CAMVID``, else synthetic 360x480 frames). In one process, side by side:

- the training step alone (forward, loss, backward, AdamW, EMA; batches already in memory) per option:
  NCHW / channels_last x FP32 / bf16 autocast, the trainer before this change (NCHW weights, bf16, the
  Lovász loss through autograd, AdamW's loop over tensors), and torch.compile (compile time apart),
  each option's blocks alternating round by round so that other load on the machine affects all alike;
- the trainer's own epoch loop with 0, 1 and 2 loader workers (alternating too);
- one validation pass (the EMA weights at the frames' own size), and the epoch and 40-epoch time
  projected from these.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

from _common import CAMVID, save, synth_data, table

BEFORE = "before: NCHW weights, bf16, Lovász through autograd, AdamW per tensor"


def lovasz_by_autograd(logits, target, ignore_index):
    """The Lovász-softmax as the trainer computed it before (sort and scatter through autograd)."""
    import torch

    from unet_edge.training.losses import labelled

    n = logits.shape[1]
    probs = logits.float().softmax(1).permute(0, 2, 3, 1).reshape(-1, n)
    labels = target.reshape(-1)
    valid = labelled(labels, n, ignore_index)
    probs, labels = probs[valid], labels[valid]
    present = labels.bincount(minlength=n) > 0
    classes = present.nonzero().flatten()
    fg = (labels == classes.unsqueeze(1)).float()
    errors, order = (fg - probs[:, classes].t()).abs().sort(1, descending=True)
    fg_sorted = fg.gather(1, order)
    total = fg_sorted.sum(1, keepdim=True)
    jaccard = 1 - (total - fg_sorted.cumsum(1)) / (total + (1 - fg_sorted).cumsum(1))
    grad = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], 1)
    return (errors * grad).sum(1).mean()


class Step:
    """One option's own copy of the model, AdamW and EMA, and its training step."""

    def __init__(self, trainer, channels_last: bool, bf16: bool, before: bool = False, compiled: bool = False) -> None:
        import torch

        from unet_edge.training.optim import Ema, param_groups

        cfg = trainer.cfg
        self.model = copy.deepcopy(trainer.model).to(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        self.opt = torch.optim.AdamW(param_groups(self.model, cfg.lr, cfg.weight_decay, cfg.encoder_lr_scale),
                                     fused=None if before else True)
        self.ema = Ema(self.model, cfg.ema)
        self.net = torch.compile(self.model) if compiled else self.model
        self.trainer, self.cl, self.bf16, self.before = trainer, channels_last, bf16, before

    def __call__(self, images, masks) -> None:
        import torch

        from unet_edge.training.speed import to_memory_format

        t = self.trainer
        x = t.norm(images)
        if not self.before:  # the step's own format; the old trainer took it as the normaliser gives it
            x = to_memory_format(x, self.cl)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.net(x)
            loss = (t.criterion.ce(logits.float(), masks) + lovasz_by_autograd(logits, masks, t.info.ignore_index)
                    if self.before else t.criterion(logits, masks))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.ema.update(self.model)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="steps per option per round")
    ap.add_argument("--loader-steps", type=int, default=4, help="steps per worker count per round")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--data", default=None, help="CamVid root (default: the shared copy, else synthetic frames)")
    ap.add_argument("--size", default=None, help="crop HxW instead of the recipe's (smoke runs)")
    args = ap.parse_args()
    import torch

    from unet_edge.core.sysinfo import cpu
    from unet_edge.training import TrainConfig
    from unet_edge.training.loader import make_loader
    from unet_edge.training.trainer import RAW_EVERY, Trainer

    tmp = tempfile.TemporaryDirectory()
    data, dataset = (str(args.data or CAMVID), "camvid") if (Path(args.data or CAMVID) / "train").is_dir() else (
        str(synth_data(Path(tmp.name) / "data", 120)), "folder")
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None
    cfg = TrainConfig(data=data, dataset=dataset, pretrained=False, out=str(Path(tmp.name) / "run"), seed=0,
                      size=size)
    trainer = Trainer(cfg, log=print)  # times bf16 against FP32 unless cached (training/speed.py)
    full_steps, epochs, batch = trainer.steps_per_epoch, cfg.epochs, cfg.batch
    print(f"{cpu()['model']}, {torch.get_num_threads()} threads; {cfg.arch} {cfg.size[0]}x{cfg.size[1]} "
          f"batch {batch}, {full_steps} steps an epoch, {epochs} epochs; trainer's bf16 choice: {trainer.bf16}")
    it = iter(make_loader(trainer.train_set, batch, True, 0, False))
    batches = [next(it) for _ in range(2)]

    best = trainer.bf16
    options = {
        "NCHW FP32": Step(trainer, False, False),
        "NCHW bf16": Step(trainer, False, True),
        "channels_last FP32": Step(trainer, True, False),
        "channels_last bf16": Step(trainer, True, True),
        BEFORE: Step(trainer, False, True, before=True),
    }
    compile_s = None
    if not args.no_compile:
        name = f"channels_last {'bf16' if best else 'FP32'} + torch.compile"
        options[name] = Step(trainer, True, best, compiled=True)
        t0 = time.perf_counter()
        options[name](*batches[0])  # compiles the forward and backward graphs
        compile_s = time.perf_counter() - t0
        print(f"torch.compile: first step {compile_s:.0f} s", flush=True)
    for step in options.values():  # warm-up
        step(*batches[0])
    seconds = {name: [] for name in options}
    for r in range(args.rounds):
        for name, step in options.items():
            t0 = time.perf_counter()
            for i in range(args.steps):
                step(*batches[i % len(batches)])
            seconds[name].append(time.perf_counter() - t0)
        print(f"round {r + 1}: " + ", ".join(f"{n} {batch * args.steps / s[-1]:.2f}" for n, s in seconds.items()),
              flush=True)
    rate = {n: batch * args.steps / statistics.median(s) for n, s in seconds.items()}
    del options

    # The trainer's own loop, loader included, with 0, 1 and 2 workers.
    trainer.steps_per_epoch = args.loader_steps
    loaders = {w: make_loader(trainer.train_set, batch, True, w, False, seed=cfg.seed) for w in (0, 1, 2)}
    loop = {w: [] for w in loaders}
    for loader in loaders.values():  # warm-up: worker start
        trainer.train_loader = loader
        trainer._train_epoch(0)
    for r in range(args.rounds):
        for w, loader in loaders.items():
            trainer.train_loader = loader
            loop[w].append(trainer._train_epoch(r + 1))
        print(f"loader round {r + 1}: " + ", ".join(f"{w} workers {v[-1]['images_per_s']:.2f} img/s "
                                                   f"(wait {100 * v[-1]['data_wait']:.0f}%)" for w, v in loop.items()),
              flush=True)
    loop_rate = {w: statistics.median(v["images_per_s"] for v in runs) for w, runs in loop.items()}
    wait = {w: statistics.median(v["data_wait"] for v in runs) for w, runs in loop.items()}
    workers = trainer.workers
    t0 = time.perf_counter()
    trainer._score(trainer.ema.model)
    val_s = time.perf_counter() - t0
    print(f"validation: {len(trainer.val_ds)} frames at {trainer.val_size[0]}x{trainer.val_size[1]} in {val_s:.1f} s")

    per_val = val_s * (1 + 1 / RAW_EVERY)  # the raw weights are scored every RAW_EVERY epochs
    epoch_s = full_steps * batch / loop_rate[workers] + per_val
    before = rate[BEFORE]
    ref = rate["NCHW FP32"]
    rows = [[n, f"{v:.2f}", f"{v / ref:.2f}x"] for n, v in rate.items()]
    print(table(["step option (no loader)", "images/s", "vs NCHW FP32"], rows))
    print(table(["loader workers", "images/s, step + loader", "data wait"],
                [[w, f"{loop_rate[w]:.2f}", f"{100 * wait[w]:.0f}%"] for w in loop_rate]))
    recipe_min = epochs * epoch_s / 60
    print(f"epoch: {full_steps} steps at {loop_rate[workers]:.2f} img/s ({workers} workers) + validation "
          f"{per_val:.1f} s = {epoch_s:.0f} s; {epochs} epochs: {recipe_min:.0f} min "
          f"(the step before this change: {before:.2f} img/s)")
    if compile_s is not None:
        name = next(n for n in rate if "compile" in n)
        eager = rate[f"channels_last {'bf16' if best else 'FP32'}"]
        gain_s = batch / eager - batch / rate[name]
        total_steps = full_steps * epochs
        pays = gain_s > 0 and compile_s < gain_s * total_steps
        print(f"torch.compile: {compile_s:.0f} s to compile, {gain_s:+.3f} s a step; over the recipe's "
              f"{total_steps} steps it {'pays' if pays else 'does not pay'}")
    save("train_throughput", {
        "model": cfg.arch, "size": list(cfg.size), "batch": batch, "loss": cfg.loss, "data": dataset,
        "threads": torch.get_num_threads(), "trainer_bf16": trainer.bf16,
        "step_images_per_s": rate, "step_seconds": seconds, "compile_s": compile_s,
        "loader_images_per_s": loop_rate, "loader_data_wait": wait, "default_workers": workers,
        "val_frames": len(trainer.val_ds), "val_size": list(trainer.val_size), "val_s": val_s,
        "epoch_s": epoch_s, "steps_per_epoch": full_steps, "epochs": epochs, "recipe_minutes": recipe_min,
        "rounds": args.rounds, "steps": args.steps})
    tmp.cleanup()


if __name__ == "__main__":
    main()
