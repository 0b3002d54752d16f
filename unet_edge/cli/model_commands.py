"""Model commands: synth, train, eval, demo. Each body imports what it needs, so ``--help`` stays torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unet_edge.cli import model_source as ms
from unet_edge.cli.bind import bind
from unet_edge.cli.options import Size
from unet_edge.core.parse import parse_size
from unet_edge.demo import TRAIN_MINUTES  # stdlib only at import: --help stays torch-free
from unet_edge.eval_config import EvalConfig
from unet_edge.training.config import TrainConfig


def synth(out: Annotated[Path, typer.Argument(help="output folder")],
          frames: Annotated[int, typer.Option(help="independent labelled scenes to write")] = 300,
          size: Size = "360x480",
          seed: int = 0,
          clip_frames: Annotated[int | None, typer.Option(help="frames of the dashcam clip (default: --frames; "
                                                               "0: none)")] = None,
          fps: float = 30.0,
          workers: int = 2,
          force: Annotated[bool, typer.Option(help="overwrite a non-empty folder")] = False) -> None:
    """Write a synthetic dashcam dataset (folder layout, CamVid classes) and clip.mp4."""
    import time

    from unet_edge.core.errors import ConfigError
    from unet_edge.synth.writer import write_synth

    try:
        hw = parse_size(size)
    except ConfigError as exc:
        raise ConfigError(f"--size {size}: give HxW with both sides at least 16, e.g. 360x480") from exc
    t0 = time.perf_counter()
    res = write_synth(out, frames, hw, seed, clip_frames, fps, workers, force)  # checks every option first
    typer.echo(f"wrote {res.images} labelled frames to {res.root}/images + masks/ (classes.json) "
               f"in {time.perf_counter() - t0:.1f}s")
    if res.clip:
        typer.echo(f"wrote dashcam clip {res.clip} ({res.clip_frames} frames at {fps:g} fps)")


@ms.model_options(without=("trust_pickle", "classes"))
@bind(TrainConfig, into="given", build=False)
def train(given: dict | None = None, own_model: dict | None = None) -> None:
    """Train a segmentation model; writes OUT/best.pt and OUT/last.pt. Multi-GPU: launch under torchrun.

    Every option left out comes from the architecture's recipe (printed at the start). Your own
    nn.Module trains with --model-class MODULE:NAME --model-kwargs JSON, fed as its input contract
    says ('Your own model'); its checkpoints record the class, kwargs and contract for export,
    eval and bench.
    """
    from unet_edge.core.errors import ConfigError
    from unet_edge.training import train as run_train

    spec = ms.foreign_spec(**own_model)
    if spec is not None and not spec.model_class:
        raise ConfigError("--model-kwargs, --python-path and the input-contract options describe a --model-class "
                          "model: pass --model-class MODULE:NAME")
    foreign = ({"model_class": spec.model_class, "model_kwargs": spec.model_kwargs, "python_path": spec.python_path,
                "contract": spec.contract.to_json()} if spec else {})
    run_train(TrainConfig(**given, **foreign), log=typer.echo)


@ms.model_options()
@bind(EvalConfig, into="cfg")
def evaluate(cfg: EvalConfig | None = None, own_model: dict | None = None) -> None:
    """Score a model on a dataset: mIoU, pixel accuracy, per-class IoU, confusion matrix.

    A model trained elsewhere runs as its own project runs it, described by the options under
    'Your own model' (as for export)."""
    import dataclasses

    from unet_edge.evaluate import evaluate_path, format_report

    spec = ms.foreign_spec(**own_model, size="x".join(map(str, cfg.size)) if cfg.size else None)
    report = evaluate_path(dataclasses.replace(cfg, spec=spec))
    typer.echo(format_report(report))


def demo(out: Annotated[Path, typer.Option(help="folder for every demo output")] = Path("demo_out"),
         frames: Annotated[int, typer.Option(help="synthetic training scenes", min=20)] = 400,
         epochs: Annotated[int | None, typer.Option(help="a fixed epoch count instead of --train-minutes", min=1)
                           ] = None,
         train_minutes: Annotated[float, typer.Option(help="training time: the epoch count is fitted to it, so "
                                                           "the demo keeps to 4 minutes", min=0.1)] = TRAIN_MINUTES,
         size: Size = "96x128",  # the training crop: the scenes render, and the model runs, at twice it
         seed: int = 0) -> None:
    """End to end on the synthetic dashcam: synthesize, train, evaluate, export, stream, bench."""
    from unet_edge.demo import run_demo

    run_demo(out, frames, epochs, parse_size(size), seed, log=typer.echo, train_minutes=train_minutes)
