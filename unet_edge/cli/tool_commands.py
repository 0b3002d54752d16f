"""Measurement and serving commands: bench, serve and doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unet_edge.cli import model_source as ms
from unet_edge.cli.options import OpenVINODevice, OpenVINOPrecision, Provider
from unet_edge.core.options import OV_DEVICE_HELP, PROVIDER_HELP
from unet_edge.core.parse import parse_size


def _in(panel: str, help: str, *flags: str) -> typer.models.OptionInfo:
    """An option shown in --help's ``panel`` (after the command's common options, which have none)."""
    return typer.Option(*flags, help=help, rich_help_panel=panel)


@ms.model_options()
def bench(model: Annotated[Path, typer.Option(help="checkpoint (.pt), ONNX or engine; or a model trained elsewhere "
                                                 "(as for export, with the options under 'Your own model')")],
          backends: Annotated[str, typer.Option(help="comma list of torch, torch-nchw, onnxruntime, onnxruntime-fp16, "
                                                     "onnxruntime-int8, openvino, openvino-bf16, openvino-int8, "
                                                     "tensorrt-fp32/-fp16/-int8, or all")] = "all",
          size: Annotated[str | None, typer.Option(help="model input HxW (default: training size)")] = None,
          data: Annotated[Path | None, typer.Option(help="labelled dataset for mIoU (and INT8 calibration)")] = None,
          json_out: Annotated[Path | None, typer.Option("--json", help="write results + system as JSON")] = None,
          # --help's panels after the common options above, in this order
          batch: Annotated[int, _in("Timing", "frames per inference")] = 1,
          warmup: Annotated[int, _in("Timing", "untimed runs first")] = 10,
          iters: Annotated[int, _in("Timing", "timed runs, at least")] = 50,
          min_seconds: Annotated[float, _in("Timing", "keep timing at least this long")] = 2.0,
          threads: Annotated[int | None, _in("Timing", "CPU threads for every CPU backend")] = None,
          data_limit: Annotated[int | None, _in("Accuracy", "score only the first N val frames")] = None,
          dataset: Annotated[str, _in("Accuracy", "--data's layout: camvid | carla | folder")] = "camvid",
          source: Annotated[str | None, _in("Stream", "video for end-to-end stream numbers")] = None,
          stream_frames: Annotated[int, _in("Stream", "frames of --source streamed")] = 150,
          plot: Annotated[Path | None, _in("Outputs", "PNG: latency bars with p50-p99 whiskers, mIoU")] = None,
          cache_dir: Annotated[Path | None, _in("Outputs", "where on-the-fly exports go")] = None,
          provider: Annotated[str, _in("Backend", PROVIDER_HELP)] = "cpu",
          device: Annotated[str | None, _in("Backend", OV_DEVICE_HELP, "--device")] = None,
          own_model: dict | None = None) -> None:
    """Latency (mean/p50/p90/p99, FPS, per stage) and accuracy per backend and precision.
    With --provider openvino: ONNX Runtime FP32 (the reference), then OpenVINO f32, bf16 and INT8 on --device."""
    from unet_edge.bench.plan import check_options, check_outputs, check_requested_ran
    from unet_edge.bench.report import plot as plot_png
    from unet_edge.bench.report import print_tables, write_json
    from unet_edge.bench.suite import BenchConfig, run_bench
    from unet_edge.core.errors import ConfigError
    from unet_edge.core.shipped import resolve_model

    try:
        hw = parse_size(size) if size else None
    except ConfigError as exc:
        raise ConfigError(f"--size {size}: give HxW with both sides at least 16, e.g. 352x480") from exc
    cfg = BenchConfig(model=model, backends=backends, size=hw, batch=batch,
                      warmup=warmup, iters=iters, min_seconds=min_seconds, threads=threads, data=data,
                      dataset=dataset, data_limit=data_limit, source=source, stream_frames=stream_frames,
                      cache_dir=cache_dir, provider=provider, device=device,
                      spec=ms.foreign_spec(**own_model, size=size))
    check_options(cfg)  # the whole plan before the model is read: options, then outputs against inputs
    check_outputs(cfg, resolve_model(model), json_out, plot)
    result = run_bench(cfg, log=typer.echo)
    print_tables(result)
    if json_out:
        write_json(result, json_out)
        typer.echo(f"wrote {json_out}")
    if plot:
        plot_png(result, plot)
        typer.echo(f"wrote {plot}")
    check_requested_ran(result)  # a backend named in --backends that failed: exit 1, after its row is shown


def doctor(json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Check this box: Python, Jetson/power mode, GPU, TensorRT, ONNX Runtime, OpenVINO, OpenCV, cameras, disk."""
    import json

    from unet_edge.doctor import as_json, checks, report

    items = checks()
    typer.echo(json.dumps(as_json(items), indent=2) if json_out else report(items))


def serve(model: Annotated[Path, typer.Option(help="exported model: .onnx or .engine (with its .json sidecar)")],
          host: Annotated[str, typer.Option(help="address to bind (default: this machine only)")] = "127.0.0.1",
          http: Annotated[int, typer.Option(help="HTTP port")] = 8000,
          grpc: Annotated[int, typer.Option(help="gRPC port")] = 8001,
          metrics: Annotated[int, typer.Option(help="Prometheus metrics port")] = 8002,
          max_batch: Annotated[int, typer.Option(help="largest batch Triton's dynamic batcher forms")] = 8,
          provider: Provider = "cpu",
          threads: Annotated[int | None, typer.Option(help="CPU threads for inference")] = None,
          device: OpenVINODevice = None,
          precision: OpenVINOPrecision = None) -> None:
    """Serve a model through NVIDIA Triton Inference Server (HTTP, gRPC, metrics) for tritonclient."""
    from unet_edge.serving.triton import ServeConfig
    from unet_edge.serving.triton import serve as run_serve

    run_serve(ServeConfig(model=model, host=host, http=http, grpc=grpc, metrics=metrics, max_batch=max_batch,
                          provider=provider, threads=threads, device=device, precision=precision), log=typer.echo)
