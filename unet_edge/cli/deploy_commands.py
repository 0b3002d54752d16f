"""Deployment commands: export, build and run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unet_edge.cli import model_source as ms
from unet_edge.cli.bind import bind
from unet_edge.export.exporter import ExportOptions
from unet_edge.export.tensorrt.from_export import DEFAULT_WORKSPACE_GB
from unet_edge.runtime.run_config import RunConfig


@ms.model_options()
@bind(ExportOptions)
def export(checkpoint: Annotated[Path, typer.Argument(
               metavar="MODEL", help="a training checkpoint (best.pt), a state dict (with --model-class), a "
                                     "torch.export .pt2, a TorchScript file or a float ONNX graph")],
           json_out: Annotated[Path | None, typer.Option("--json", help="write the artifacts, the precision gate "
                                                                         "and each artifact's report as JSON to "
                                                                         "this file ('-': stdout, the log on "
                                                                         "stderr)", rich_help_panel="Outputs")] = None,
           triton: Annotated[Path | None, typer.Option(help="also write a Triton model repository here",
                                                       rich_help_panel="Outputs")] = None,
           triton_max_batch: Annotated[int, typer.Option(help="max_batch_size of --dynamic exports in --triton",
                                                         min=1, rich_help_panel="Outputs")] = 8,
           opts: ExportOptions | None = None, own_model: dict | None = None) -> None:
    """Export a model to ONNX (FP32, FP16, INT8) with pre/post-processing inside, and verify it.

    MODEL is a checkpoint of 'unet-edge train', or a model trained elsewhere: a state dict with
    --model-class, a torch.export program, a TorchScript file or a float ONNX graph, described by
    the options under 'Your own model'."""
    from unet_edge.cli.model_source import foreign_spec
    from unet_edge.core.errors import ConfigError
    from unet_edge.export.exporter import export_model

    to_stdout = str(json_out) == "-"

    def log(message: str) -> None:
        typer.echo(message, err=to_stdout)  # stdout holds only the JSON then

    if json_out is not None and not to_stdout and json_out.is_dir():
        raise ConfigError(f"--json {json_out}: is a folder; give a file")
    if triton is not None and triton.exists() and not triton.is_dir():
        raise ConfigError(f"--triton {triton}: is a file; give a folder")
    spec = foreign_spec(**own_model, size="x".join(map(str, opts.size)) if opts.size else None)
    # --json and --triton are written once every stage has passed: checked with the export's plan, first
    also = {"--json": None if to_stdout else json_out, "--triton": triton}
    result = export_model(checkpoint, opts, log, spec=spec, also_writes=also)
    if json_out and not to_stdout:
        from unet_edge.core.io import write_json_atomic

        write_json_atomic(json_out, result.to_json())
    if triton:
        _triton_models(triton, result.artifacts, triton_max_batch, log)
    from unet_edge.export.next_steps import next_steps

    log("next:")
    for line in next_steps(result.artifacts, result.engines, result.verification, result.reports,
                           opts.verify_data or opts.calib):
        log(f"  {line}")
    if to_stdout:
        import json

        typer.echo(json.dumps(result.to_json(), indent=1))


def _triton_models(repo: Path, artifacts: list[Path], max_batch: int, log) -> None:
    from unet_edge.export.triton_repo import add_model

    for artifact in artifacts:
        log(f"triton model {add_model(repo, artifact, 'onnxruntime', max_batch)}")


def build(onnx: Annotated[Path, typer.Argument(help="an ONNX file written by 'unet-edge export'")],
          precision: Annotated[str | None, typer.Option(help="fp32 | fp16 | int8 (default: the ONNX file's)")] = None,
          workspace: Annotated[float, typer.Option(help="builder workspace in GB (keep small on Jetson)")
                                      ] = DEFAULT_WORKSPACE_GB,
          dla: Annotated[int | None, typer.Option(help="build for this DLA core (FP16/INT8, GPU fallback)", min=0)
                         ] = None,
          timing_cache: Annotated[Path | None, typer.Option(help="timing cache reused across builds")] = None,
          opt_level: Annotated[int | None, typer.Option(help="builder optimization level (TensorRT >= 8.6)", min=0,
                                                        max=5)] = None,
          out: Annotated[Path | None, typer.Option(help="engine path (default: cached beside the ONNX)")] = None,
          overwrite: Annotated[bool, typer.Option(help="replace an engine already at --out, once the new one is "
                                                       "built")] = False,
          max_batch: Annotated[int, typer.Option(help="largest batch of a --dynamic export's profile", min=1)] = 4,
          triton: Annotated[Path | None, typer.Option(help="also add the engine to this Triton repository")] = None,
          ) -> None:
    """Build a TensorRT engine on this device from an exported ONNX."""
    from unet_edge.core.artifact import PRECISIONS, load_meta
    from unet_edge.core.errors import ConfigError
    from unet_edge.core.shipped import resolve_model
    from unet_edge.export.tensorrt.from_export import BuildOptions, build_from_export, check_build_plan

    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    onnx = resolve_model(onnx, typer.echo, "ONNX")
    opts = BuildOptions(out, workspace, dla, timing_cache, opt_level, max_batch)
    graphs = check_build_plan(onnx, opts, triton, overwrite)  # before TensorRT is even imported
    precision = precision or load_meta(onnx, check_hash=False).precision  # hashed by the plan
    engine = build_from_export(graphs, precision, opts, typer.echo)
    if triton:
        from unet_edge.export.triton_repo import add_model

        typer.echo(f"triton model {add_model(triton, engine, 'tensorrt', max_batch, kind='KIND_GPU')}")


@bind(RunConfig, into="cfg")
def run(cfg: RunConfig | None = None) -> None:
    """Stream camera or video frames through an exported model and overlay the class masks."""
    from unet_edge.runtime.run import run_stream

    run_stream(cfg, log=typer.echo)
