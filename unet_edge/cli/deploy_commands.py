"""Deployment commands: export, build and run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unet_edge.cli import model_source as ms
from unet_edge.cli.options import OpenVINODevice, OpenVINOPrecision, Provider
from unet_edge.core.artifact import INT8_TARGETS
from unet_edge.core.parse import parse_size
from unet_edge.export.exporter import DEFAULT_CALIB_FRAMES, DEFAULT_OPSET, DEFAULT_VERIFY_FRAMES
from unet_edge.export.tensorrt.from_export import DEFAULT_WORKSPACE_GB
from unet_edge.export.thresholds import (
    DEFAULT_AGREEMENT_FLOOR,
    DEFAULT_MAX_CLASS_DROP,
    DEFAULT_MAX_MIOU_DROP,
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_SEARCH_MINUTES,
)


@ms.model_options()
def export(checkpoint: Annotated[Path, typer.Argument(
               metavar="MODEL", help="a training checkpoint (best.pt), a state dict (with --model-class), a "
                                     "torch.export .pt2, a TorchScript file or a float ONNX graph")],
           fp16: Annotated[bool, typer.Option(help="also write the mixed-precision FP16 ONNX")] = False,
           int8: Annotated[bool, typer.Option(help="also write an INT8 QDQ ONNX (needs --calib)")] = False,
           calib: Annotated[str | None, typer.Option(help="calibration frames: DIR, VIDEO or LAYOUT:PATH")] = None,
           calib_frames: Annotated[int, typer.Option(help="frames used for calibration")] = DEFAULT_CALIB_FRAMES,
           calib_method: Annotated[str | None, typer.Option(help="minmax | percentile | entropy (default: try "
                                                                 "each, keep the best)")] = None,
           min_agreement: Annotated[float | None, typer.Option(
               help="INT8: pixel agreement with the FP32 model (a fraction). Where the verification frames have "
                    f"labels, a floor beside accuracy (default {DEFAULT_AGREEMENT_FLOOR}); without, the criterion "
                    f"(default {DEFAULT_MIN_AGREEMENT})", show_default=False)] = None,
           max_miou_drop: Annotated[float, typer.Option(help="INT8 and FP16, where the verification frames have "
                                                             "labels: at most this many mIoU points lost")
                                        ] = 100 * DEFAULT_MAX_MIOU_DROP,
           max_class_drop: Annotated[float, typer.Option(help="and no class's IoU down by more than this many "
                                                              "points")] = 100 * DEFAULT_MAX_CLASS_DROP,
           int8_search_minutes: Annotated[float, typer.Option(help="budget of INT8's float-layer search "
                                                                   "(calibration not counted)")
                                          ] = DEFAULT_SEARCH_MINUTES,
           json_out: Annotated[Path | None, typer.Option("--json", help="write the artifacts, the precision gate "
                                                                         "and each artifact's report as JSON to "
                                                                         "this file ('-': stdout, the log on "
                                                                         "stderr)")] = None,
           int8_target: Annotated[str, typer.Option(help=f"INT8 flavour: {' | '.join(INT8_TARGETS)} (cpu: ONNX "
                                                         "Runtime)")] = INT8_TARGETS[0],
           opset: int = DEFAULT_OPSET,
           dynamic: Annotated[bool, typer.Option(help="dynamic batch/height/width (multiples of 16)")] = False,
           simplify: Annotated[bool, typer.Option(help="simplify with onnxslim/onnxsim")] = False,
           logits: Annotated[bool, typer.Option(help="output raw logits instead of class ids")] = False,
           confidence: Annotated[bool, typer.Option(help="a second output: uint8 255 x max softmax probability")
                                 ] = False,
           subpixel: Annotated[bool, typer.Option(help="ConvTranspose -> Conv + DepthToSpace (exact)")] = False,
           size: Annotated[str | None, typer.Option(help="input HxW (default: the training size)")] = None,
           out: Annotated[Path | None, typer.Option(help="output folder (default: beside the checkpoint)")] = None,
           verify_data: Annotated[str | None, typer.Option(help="frames: LAYOUT:PATH, DIR or VIDEO")] = None,
           verify_frames: int = DEFAULT_VERIFY_FRAMES,
           verify: Annotated[bool, typer.Option("--verify/--no-verify", help="check parity with PyTorch")] = True,
           build: Annotated[bool, typer.Option("--build/--no-build", help="build engines if TensorRT imports")] = True,
           workspace: Annotated[float, typer.Option(help="TensorRT workspace in GB")] = DEFAULT_WORKSPACE_GB,
           triton: Annotated[Path | None, typer.Option(help="also write a Triton model repository here")] = None,
           triton_max_batch: Annotated[int, typer.Option(help="max_batch_size of --dynamic exports in --triton")
                                       ] = 8,
           own_model: dict | None = None) -> None:
    """Export a model to ONNX (FP32, FP16, INT8) with pre/post-processing inside, and verify it.

    MODEL is a checkpoint of 'unet-edge train', or a model trained elsewhere: a state dict with
    --model-class, a torch.export program, a TorchScript file or a float ONNX graph, described by
    the options under 'Your own model'."""
    from unet_edge.cli.model_source import foreign_spec
    from unet_edge.export.exporter import ExportOptions, export_model

    opts = ExportOptions(fp16=fp16, int8=int8, int8_target=int8_target, calib=calib, calib_frames=calib_frames,
                         calib_method=calib_method, min_agreement=min_agreement,
                         max_miou_drop=max_miou_drop / 100,  # points on the command line, a fraction inside
                         max_class_drop=max_class_drop / 100, int8_search_minutes=int8_search_minutes, opset=opset,
                         dynamic=dynamic, simplify=simplify, logits=logits, confidence=confidence,
                         size=parse_size(size) if size else None, out=out, verify_data=verify_data,
                         verify_frames=verify_frames, verify=verify, build=build, workspace_gb=workspace,
                         subpixel=subpixel)
    to_stdout = str(json_out) == "-"

    def log(message: str) -> None:
        typer.echo(message, err=to_stdout)  # stdout holds only the JSON then

    spec = foreign_spec(**own_model, size=size)
    result = export_model(checkpoint, opts, log, spec=spec)
    if json_out and not to_stdout:
        from unet_edge.core.io import write_json_atomic

        write_json_atomic(json_out, result.to_json())
    if triton:
        _triton_models(triton, result.artifacts, triton_max_batch, log)
    _next_steps((result.engines or result.artifacts)[0], log)
    if to_stdout:
        import json

        typer.echo(json.dumps(result.to_json(), indent=1))


def _triton_models(repo: Path, artifacts: list[Path], max_batch: int, log) -> None:
    from unet_edge.export.triton_repo import add_model

    for artifact in artifacts:
        log(f"triton model {add_model(repo, artifact, 'onnxruntime', max_batch)}")


def _next_steps(model: Path, log) -> None:
    log("next:")
    log(f"  unet-edge run --model {model} --source VIDEO_OR_CAMERA --save out.mp4")
    log(f"  unet-edge bench --model {model}")
    log(f"  unet-edge eval --model {model} --data DATA --dataset camvid")


def build(onnx: Annotated[Path, typer.Argument(help="an ONNX file written by 'unet-edge export'")],
          precision: Annotated[str | None, typer.Option(help="fp32 | fp16 | int8 (default: the ONNX file's)")] = None,
          workspace: Annotated[float, typer.Option(help="builder workspace in GB (keep small on Jetson)")
                                      ] = DEFAULT_WORKSPACE_GB,
          dla: Annotated[int | None, typer.Option(help="build for this DLA core (FP16/INT8, GPU fallback)")] = None,
          timing_cache: Annotated[Path | None, typer.Option(help="timing cache reused across builds")] = None,
          opt_level: Annotated[int | None, typer.Option(help="builder optimization level (TensorRT >= 8.6)")] = None,
          out: Annotated[Path | None, typer.Option(help="engine path (default: cached beside the ONNX)")] = None,
          max_batch: Annotated[int, typer.Option(help="largest batch of a --dynamic export's profile")] = 4,
          triton: Annotated[Path | None, typer.Option(help="also add the engine to this Triton repository")] = None,
          ) -> None:
    """Build a TensorRT engine on this device from an exported ONNX."""
    from unet_edge.core.artifact import PRECISIONS, load_meta
    from unet_edge.core.errors import ConfigError
    from unet_edge.export.tensorrt.from_export import BuildOptions, build_from_export, siblings

    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}'; choose {', '.join(PRECISIONS)}")
    precision = precision or load_meta(onnx).precision
    engine = build_from_export(siblings(onnx), precision, BuildOptions(out, workspace, dla, timing_cache, opt_level,
                                                                       max_batch), typer.echo)
    if triton:
        from unet_edge.export.triton_repo import add_model

        typer.echo(f"triton model {add_model(triton, engine, 'tensorrt', max_batch, kind='KIND_GPU')}")


def run(model: Annotated[Path, typer.Option(help="exported model: .onnx or .engine (with its .json sidecar)")],
        source: Annotated[list[str], typer.Option(help="video, image folder/glob, 0, v4l2:///dev/videoN, rtsp://, "
                                                       "http://, csi://N, a GStreamer pipeline, or synth://; repeat "
                                                       "for several streams through one model")],
        show: Annotated[bool, typer.Option(help="open a window")] = False,
        save: Annotated[str | None, typer.Option(help="out.mp4, or DIR/ with --segment; {stream} in the name for "
                                                      "several sources: out_{stream}.mp4")] = None,
        segment: Annotated[float | None, typer.Option(help="record DIR/<start>_<index>.mp4 segments of this many "
                                                           "seconds, each finalized when the next starts")] = None,
        keep: Annotated[int | None, typer.Option(help="keep only the newest N segments")] = None,
        serve: Annotated[str | None, typer.Option(help="MJPEG live view on [HOST:]PORT (host: 127.0.0.1)")] = None,
        serve_token: Annotated[str | None, typer.Option(help="the live view's ?token= (default: generated when "
                                                             "bound beyond loopback)")] = None,
        view: Annotated[str, typer.Option(help="overlay | mask | side | confidence (a --confidence export)")
                        ] = "overlay",
        min_confidence: Annotated[float, typer.Option(help="paint pixels below this probability as unknown "
                                                          "(a --confidence export)")] = 0.0,
        max_batch: Annotated[int, typer.Option(help="frames of several sources inferred together (a --dynamic "
                                                    "export)")] = 8,
        alpha: float = 0.5,
        legend: bool = False,
        hud: Annotated[bool, typer.Option("--hud/--no-hud")] = True,
        provider: Provider = "cpu",
        threads: Annotated[int | None, typer.Option(help="CPU threads for inference")] = None,
        device: OpenVINODevice = None,
        precision: OpenVINOPrecision = None,
        max_frames: int | None = None,
        loop: Annotated[bool, typer.Option(help="restart a file source at its end")] = False,
        realtime: Annotated[bool, typer.Option(help="pace a file like a camera, dropping stale frames")] = False,
        stats_every: Annotated[float | None, typer.Option(help="print a one-line summary to stderr every N "
                                                               "seconds")] = None,
        stats_json: Annotated[Path | None, typer.Option(help="append one JSON record per report (JSON Lines)")] = None,
        trace: Annotated[Path | None, typer.Option(help="CSV of every displayed frame's timings")] = None,
        ) -> None:
    """Stream camera or video frames through an exported model and overlay the class masks."""
    from unet_edge.runtime.run import RunConfig, run_stream

    run_stream(RunConfig(model=model, source=list(source), show=show, save=save, serve=serve, view=view, alpha=alpha,
                         legend=legend, hud=hud, provider=provider, threads=threads, max_frames=max_frames, loop=loop,
                         realtime=realtime, segment=segment, keep=keep, stats_every=stats_every,
                         stats_json=stats_json, serve_token=serve_token, trace=trace, max_batch=max_batch,
                         min_confidence=min_confidence, device=device, precision=precision), log=typer.echo)
