"""Measurement and serving commands: bench, serve and doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unet_edge.cli import model_source as ms
from unet_edge.cli.options import OpenVINODevice, OpenVINOPrecision, Provider
from unet_edge.core.options import OV_DEVICE_HELP, PROVIDER_HELP
from unet_edge.core.parse import parse_size


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
          batch: Annotated[int, typer.Option(help="frames per inference", rich_help_panel="Timing")] = 1,
          warmup: Annotated[int, typer.Option(help="untimed runs first", rich_help_panel="Timing")] = 10,
          iters: Annotated[int, typer.Option(help="timed runs, at least", rich_help_panel="Timing")] = 50,
          min_seconds: Annotated[float, typer.Option(help="keep timing at least this long",
                                                     rich_help_panel="Timing")] = 2.0,
          threads: Annotated[int | None, typer.Option(help="CPU threads for every CPU backend",
                                                      rich_help_panel="Timing")] = None,
          data_limit: Annotated[int | None, typer.Option(help="score only the first N val frames",
                                                         rich_help_panel="Accuracy")] = None,
          dataset: Annotated[str, typer.Option(help="--data's layout: camvid | carla | folder",
                                               rich_help_panel="Accuracy")] = "camvid",
          source: Annotated[str | None, typer.Option(help="video for end-to-end stream numbers",
                                                     rich_help_panel="Stream")] = None,
          stream_frames: Annotated[int, typer.Option(help="frames of --source streamed",
                                                     rich_help_panel="Stream")] = 150,
          plot: Annotated[Path | None, typer.Option(help="PNG: latency bars with p50-p99 whiskers, mIoU",
                                                    rich_help_panel="Outputs")] = None,
          cache_dir: Annotated[Path | None, typer.Option(help="where on-the-fly exports go",
                                                         rich_help_panel="Outputs")] = None,
          provider: Annotated[str, typer.Option(help=PROVIDER_HELP, rich_help_panel="Backend")] = "cpu",
          device: Annotated[str | None, typer.Option("--device", help=OV_DEVICE_HELP,
                                                     rich_help_panel="Backend")] = None,
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
