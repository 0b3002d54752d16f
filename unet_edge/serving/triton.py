"""``unet-edge serve``: the torch-free runtime behind a real Triton Inference Server (PyTriton).

Clients use the standard ``tritonclient`` over HTTP or gRPC. The model ``unet_edge`` takes a
batch of uint8 BGR frames of any size (``frame``, N x H x W x 3) and returns ``mask`` (and
``confidence`` for a ``--confidence`` export) at that size: the same as ``Segmenter(frame)``.
Triton's dynamic batcher groups concurrent requests; a dynamic-batch export infers them as one
batch, a fixed one frame by frame.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core import ports
from unet_edge.core.errors import ConfigError, MissingDependencyError
from unet_edge.runtime.frame import to_model_size
from unet_edge.runtime.segmenter import Segmenter

MODEL_NAME = "unet_edge"


@dataclass
class ServeConfig:
    model: Path
    host: str = "127.0.0.1"
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002
    max_batch: int = 8
    provider: str = "cpu"
    threads: int | None = None
    device: str | None = None  # OpenVINO's device (--provider openvino)
    precision: str | None = None  # OpenVINO's inference precision: f32 | bf16
    queue_delay_us: int = 2000


def check_serve_config(cfg: ServeConfig) -> None:
    """Every option of ``serve`` before Triton starts: three distinct ports in 1-65535, each free to listen
    on at ``host`` (which must resolve), a batch and thread count of at least 1."""
    if cfg.max_batch < 1:
        raise ConfigError(f"--max-batch {cfg.max_batch}: give at least 1")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"--threads {cfg.threads}: give at least 1 (or leave it out: every usable core)")
    named = {"--http": cfg.http, "--grpc": cfg.grpc, "--metrics": cfg.metrics}
    for option, port in named.items():
        ports.check_port(option, str(port), port)
    seen: dict[int, str] = {}
    for option, port in named.items():
        if port in seen:
            raise ConfigError(f"{seen[port]} {port} and {option} {port}: Triton needs a port for each; give "
                              "distinct ports")
        seen[port] = option
    ports.resolve("--host", cfg.host, cfg.host)
    for option, port in named.items():
        ports.check_free(option, str(port), cfg.host, port)


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (for tests and benchmarks that start a server)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def python_libdir() -> tuple[str | None, str | None]:
    """(LIBDIR holding this interpreter's shared libpython, or None; why not)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    ldlib = sysconfig.get_config_var("LDLIBRARY") or ""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not libdir:
        return None, "this Python is built without a shared libpython, which Triton's Python backend loads"
    if not (Path(libdir) / ldlib).exists():
        return None, f"{Path(libdir) / ldlib} is missing"
    return libdir, None


def prepare_environment() -> None:
    """Triton's Python-backend stub loads libpython3.X.so through the dynamic linker: point it at
    the running interpreter's own, or another build of the same version (Debian's, beside a pyenv
    one) is found first and the stub fails at model load."""
    libdir, _ = python_libdir()
    if libdir:
        paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
        os.environ["LD_LIBRARY_PATH"] = ":".join([libdir, *[p for p in paths if p != libdir]])


def infer_function(seg: Segmenter, outputs: list[str]) -> Callable[..., dict[str, np.ndarray]]:
    """Triton's callable: a batch of frames (one size per batch) -> each output at the frames' size."""
    import cv2

    batched = seg.runner.meta.batch_dynamic

    def infer(frame: np.ndarray) -> dict[str, np.ndarray]:
        fh, fw = frame.shape[1:3]
        size = seg.runner.fit_to((fh, fw))  # as Segmenter sizes it: a dynamic export at the frames' aspect
        small = np.stack([to_model_size(f, size) for f in frame])
        if batched:
            outs = seg.runner.infer_outputs(small)
        else:
            per = [seg.runner.infer_outputs(f[None]) for f in small]
            outs = {k: np.concatenate([p[k] for p in per]) for k in outputs}
        result = {}
        for k in outputs:
            arr = outs[k]
            if arr.shape[1:3] != (fh, fw):
                interp = cv2.INTER_NEAREST if k == "mask" else cv2.INTER_LINEAR
                arr = np.stack([cv2.resize(a, (fw, fh), interpolation=interp) for a in arr])
            result[k] = arr
        return result

    return infer


def serve(cfg: ServeConfig, log: Callable[[str], None] = print, ready: Callable[[], None] | None = None) -> None:
    """Start Triton with the model bound and serve until interrupted (or ``ready`` returns for tests)."""
    from unet_edge.core.shipped import resolve_model

    check_serve_config(cfg)
    model = resolve_model(cfg.model, log)
    try:
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError as exc:
        raise MissingDependencyError("nvidia-pytriton", "serve", "Triton Inference Server") from exc
    _, why = python_libdir()
    if why:
        raise ConfigError(f"unet-edge serve cannot start Triton's Python backend here: {why}")
    prepare_environment()
    seg = Segmenter(model, cfg.provider, cfg.threads, device=cfg.device, precision=cfg.precision)
    outputs = seg.runner.output_names
    if outputs[0] != "mask":
        raise ConfigError(f"{cfg.model.name} outputs {outputs[0]}; serve a class-id export (not --logits)")
    triton_cfg = TritonConfig(http_address=cfg.host, http_port=cfg.http, grpc_address=cfg.host, grpc_port=cfg.grpc,
                              metrics_address=cfg.host, metrics_port=cfg.metrics, allow_metrics=True, log_verbose=0)
    try:
        with Triton(config=triton_cfg) as triton:
            triton.bind(
                model_name=MODEL_NAME, infer_func=batch(infer_function(seg, outputs)),
                inputs=[Tensor(name="frame", dtype=np.uint8, shape=(-1, -1, 3))],
                outputs=[Tensor(name=k, dtype=np.uint8, shape=(-1, -1)) for k in outputs],
                config=ModelConfig(max_batch_size=cfg.max_batch,
                                   batcher=DynamicBatcher(max_queue_delay_microseconds=cfg.queue_delay_us)),
                strict=True)
            log(f"serving {cfg.model} as '{MODEL_NAME}' [{seg.runner.describe()}]: "
                f"HTTP {cfg.host}:{cfg.http}, gRPC {cfg.host}:{cfg.grpc}, metrics {cfg.host}:{cfg.metrics}")
            if ready is not None:
                triton.run()
                ready()
            else:
                triton.serve()
    finally:
        seg.close()
