"""Model commands: synth, train, eval, demo. Each body imports what it needs, so ``--help`` stays torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unet_edge.cli import model_source as ms
from unet_edge.cli.options import OpenVINODevice, OpenVINOPrecision, Provider, Size
from unet_edge.core.parse import parse_size
from unet_edge.models import DEFAULT_ARCH


def synth(out: Annotated[Path, typer.Argument(help="output folder")],
          frames: Annotated[int, typer.Option(help="independent labelled scenes to write")] = 300,
          size: Size = "360x480",
          seed: int = 0,
          clip_frames: Annotated[int, typer.Option(help="frames of the dashcam clip (0: none)")] = 150,
          fps: float = 30.0,
          workers: int = 2,
          force: Annotated[bool, typer.Option(help="overwrite a non-empty folder")] = False) -> None:
    """Write a synthetic dashcam dataset (folder layout, CamVid classes) and clip.mp4."""
    import time

    from unet_edge.synth.writer import write_synth

    t0 = time.perf_counter()
    res = write_synth(out, frames, parse_size(size), seed, clip_frames, fps, workers, force)
    typer.echo(f"wrote {res.images} labelled frames to {res.root}/images + masks/ (classes.json) "
               f"in {time.perf_counter() - t0:.1f}s")
    if res.clip:
        typer.echo(f"wrote dashcam clip {res.clip} ({clip_frames} frames at {fps:g} fps)")


@ms.model_options(without=("trust_pickle", "classes"))
def train(data: Annotated[Path, typer.Option(help="dataset root")],
          dataset: Annotated[str, typer.Option(help="layout: camvid | carla | folder")] = "camvid",
          arch: Annotated[str | None, typer.Option(
              help=f"architecture: unet-efficientnet-lite0 (-lite1, -lite2), unet, unet-lite, or one a package "
                   f"registers (default: {DEFAULT_ARCH}); or your own with --model-class")] = None,
          pretrained: Annotated[bool | None, typer.Option(
              "--pretrained/--no-pretrained", help="ImageNet encoder (default: on where the arch has one)")] = None,
          width: Annotated[int | None, typer.Option(help="unet/unet-lite base filters; default per arch")] = None,
          batchnorm: Annotated[bool | None, typer.Option("--batchnorm/--no-batchnorm")] = None,
          decoder_channels: Annotated[str | None, typer.Option(
              help="EfficientNet U-Nets: decoder channels at strides 16,8,4,2 (default 128,64,32,16)")] = None,
          size: Annotated[str | None, typer.Option(help="training crop HxW (default: the arch's recipe)")] = None,
          epochs: Annotated[int | None, typer.Option(help="default: the arch's recipe")] = None,
          batch: Annotated[int | None, typer.Option(help="default: the arch's recipe")] = None,
          lr: Annotated[float | None, typer.Option(help="peak learning rate (default: the arch's recipe)")] = None,
          encoder_lr_scale: Annotated[float | None, typer.Option(
              help="pretrained encoder's learning rate as a share of --lr")] = None,
          weight_decay: Annotated[float, typer.Option(help="AdamW decay; never applied to norms and biases")] = 1e-4,
          class_weights: Annotated[str | None, typer.Option(
              help="none | median (SegNet median-frequency)")] = None,
          loss: Annotated[str | None, typer.Option(help="ce | ce+dice | ce+lovasz | ohem (hard-pixel mining)")] = None,
          logit_adjust: Annotated[float | None, typer.Option(
              help="share (0-1) of the class weights' push toward rare classes taken back from the saved "
                   "model's class-head bias (default: the recipe's)")] = None,
          scale: Annotated[str | None, typer.Option(
              help="random rescale range LO,HI of each frame before the crop (default: the recipe's)")] = None,
          rare_crop: Annotated[float | None, typer.Option(
              help="share (0-1) of crops placed over a pixel of a rarer-than-median class (default: the "
                   "recipe's)")] = None,
          ema: Annotated[float | None, typer.Option(help="weight EMA decay, saved as the model; 0: off")] = None,
          holdout: Annotated[str | None, typer.Option(
              help="file-name prefix held out of train and used as val, e.g. 0006R0 (choose settings on it)")] = None,
          bf16: Annotated[bool | None, typer.Option(
              "--bf16/--no-bf16", help="bfloat16 autocast on the CPU (default: the recipe's; auto for "
                                       "EfficientNet where the CPU has bf16 instructions)")] = None,
          workers: Annotated[int, typer.Option(help="loader workers per process (-1: auto)")] = -1,
          out: Annotated[Path, typer.Option(help="run folder for best.pt, last.pt, curve.png")] = Path("runs/train"),
          resume: Annotated[bool, typer.Option(help="continue OUT/last.pt")] = False,
          seed: int = 0,
          device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
          amp: Annotated[bool, typer.Option(help="mixed precision on CUDA")] = True,
          num_classes: Annotated[int | None, typer.Option(help="CARLA: class count (default: read labels)")] = None,
          val_fraction: Annotated[float, typer.Option(help="held-out share where the layout has no split")] = 0.1,
          max_steps: Annotated[int | None, typer.Option(help="cap steps per epoch (smoke runs)")] = None,
          time_budget: Annotated[float | None, typer.Option(
              "--time", help="minutes to train: the epoch count is fitted to it from the epochs' mean time, "
                             "after every epoch (overrides --epochs)")] = None,
          pretrained_weights: Annotated[Path | None, typer.Option(
              help="a state dict to start from (.pt/.pth/.safetensors, or a best.pt)")] = None,
          own_model: dict | None = None) -> None:
    """Train a segmentation model; writes OUT/best.pt and OUT/last.pt. Multi-GPU: launch under torchrun.

    Every option left out comes from the architecture's recipe (printed at the start). Your own
    nn.Module trains with --model-class MODULE:NAME --model-kwargs JSON, fed as its input contract
    says ('Your own model'); its checkpoints record the class, kwargs and contract for export,
    eval and bench.
    """
    from unet_edge.core.errors import ConfigError
    from unet_edge.core.parse import parse_ints, parse_range
    from unet_edge.training import TrainConfig
    from unet_edge.training import train as run_train

    spec = ms.foreign_spec(**own_model)
    if spec is not None and not spec.model_class:
        raise ConfigError("--model-kwargs, --python-path and the input-contract options describe a --model-class "
                          "model: pass --model-class MODULE:NAME")
    cfg = TrainConfig(data=str(data), dataset=dataset, arch=arch, width=width, batchnorm=batchnorm,
                      decoder=parse_ints(decoder_channels, "--decoder-channels") if decoder_channels else None,
                      size=parse_size(size) if size else None, epochs=epochs, batch=batch, lr=lr,
                      encoder_lr_scale=encoder_lr_scale, weight_decay=weight_decay, class_weights=class_weights,
                      loss=loss, logit_adjust=logit_adjust, rare_crop=rare_crop, ema=ema, pretrained=pretrained,
                      holdout=holdout,
                      bf16=bf16, workers=workers,
                      out=str(out), resume=resume, seed=seed, device=device, amp=amp, num_classes=num_classes,
                      val_fraction=val_fraction, max_steps=max_steps, time=time_budget,
                      pretrained_weights=str(pretrained_weights) if pretrained_weights else None,
                      **({"model_class": spec.model_class, "model_kwargs": spec.model_kwargs,
                          "python_path": spec.python_path, "contract": spec.contract.to_json()} if spec else {}),
                      **({"scale": parse_range(scale, "--scale")} if scale else {}))
    run_train(cfg, log=typer.echo)


@ms.model_options()
def evaluate(model: Annotated[Path, typer.Option(help="a checkpoint (.pt), an export (.onnx, .engine), or a model "
                                                    "trained elsewhere: a state dict (with --model-class), a "
                                                    "torch.export .pt2, a TorchScript file or a float ONNX graph")],
             data: Annotated[Path, typer.Option(help="dataset root")],
             dataset: Annotated[str, typer.Option(help="layout: camvid | carla | folder")] = "camvid",
             split: Annotated[str, typer.Option(help="val | test | train | all")] = "val",
             size: Annotated[str | None, typer.Option(help="override the model input size HxW")] = None,
             save_viz: Annotated[Path | None, typer.Option(help="PNG grid of image | truth | prediction")] = None,
             samples: Annotated[int, typer.Option(help="rows in the --save-viz grid")] = 4,
             json_out: Annotated[Path | None, typer.Option("--json", help="write the scores as JSON")] = None,
             val_fraction: float = 0.1,
             holdout: Annotated[str | None, typer.Option(
                 help="score the train frames whose names start with this prefix (as train --holdout)")] = None,
             provider: Provider = "cpu",
             device: OpenVINODevice = None,
             precision: OpenVINOPrecision = None,
             own_model: dict | None = None) -> None:
    """Score a model on a dataset: mIoU, pixel accuracy, per-class IoU, confusion matrix.

    A model trained elsewhere runs as its own project runs it, described by the options under
    'Your own model' (as for export)."""
    from unet_edge.evaluate import EvalConfig, evaluate_path, format_report

    spec = ms.foreign_spec(**own_model, size=size)
    report = evaluate_path(EvalConfig(model, data, dataset, split, parse_size(size) if size else None, save_viz,
                                      samples, json_out, val_fraction, holdout, provider, device, precision, spec))
    typer.echo(format_report(report))


def demo(out: Annotated[Path, typer.Option(help="folder for every demo output")] = Path("demo_out"),
         frames: Annotated[int, typer.Option(help="synthetic training scenes")] = 400,
         epochs: int = 12,
         size: Size = "96x128",
         seed: int = 0) -> None:
    """End to end on the synthetic dashcam: synthesize, train, evaluate, export, stream, bench."""
    from unet_edge.demo import run_demo

    run_demo(out, frames, epochs, parse_size(size), seed, log=typer.echo)
