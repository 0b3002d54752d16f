"""``unet-edge bench``: latency and accuracy side by side for every backend and precision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from unet_edge.bench.backends import BACKENDS, Row
from unet_edge.bench.plan import (  # noqa: F401 - BenchConfig and OPENVINO_ROWS re-exported
    CACHED_KINDS,
    OPENVINO_ROWS,
    BenchConfig,
    check_cache,
    check_options,
    check_requested,
    known_reason,
    open_model,
    requested,
)
from unet_edge.core.errors import ConfigError, UnetEdgeError
from unet_edge.export.any_model import kind as model_kind
from unet_edge.export.artifact_cache import ArtifactCache


def _frames(cfg: BenchConfig, n: int = 16) -> tuple[list[np.ndarray], tuple[list, list[str]] | None, str]:
    """The frames every row is checked on, with (labels, class names) where they have labels: then
    each row is judged as export's gate judges it (accuracy; agreement only a floor)."""
    from unet_edge.export.frame_sets import load_frames, spread, synthetic_frames

    if cfg.source:
        frames, _, _ = load_frames(cfg.source, (360, 480), n)
        return frames, None, cfg.source
    if cfg.data:
        import cv2

        from unet_edge.data import open_dataset

        ds = open_dataset(cfg.dataset, cfg.data, "val")
        pairs = [ds[i] for i in spread(range(len(ds)), n)]
        frames = [cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) for rgb, _ in pairs]
        return frames, ([m for _, m in pairs], list(ds.info.names)), f"{cfg.dataset}:{cfg.data}"
    frames, labels, names = synthetic_frames((360, 480), n)
    return frames, (labels, names), "synthetic dashcam frames (360x480)"


def open_backend(name: str, cfg: BenchConfig, cache: ArtifactCache | None, threads: int):
    """(runner, artifact path) for ``name``; raises UnetEdgeError when it cannot be built."""
    precision, family, export = BACKENDS[name].precision, BACKENDS[name].family, BACKENDS[name].export
    kind = model_kind(cfg.model)
    if family == "torch":
        import torch

        from unet_edge.export.any_model import open_reference

        torch.set_num_threads(threads)
        layout = "nchw" if name == "torch-nchw" else "channels_last"
        return open_reference(cfg.model, cfg.spec, cfg.size, layout), cfg.model
    if kind in ("torch", "foreign-onnx"):
        onnx = cache.onnx(export, "tensorrt" if family == "tensorrt" else "cpu")
    elif kind == "onnx":  # its precision was checked against the row's (known_reason)
        onnx = cfg.model
    else:
        onnx = None
    if family == "onnxruntime":
        from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

        provider = "cpu" if cfg.provider == "openvino" else cfg.provider
        return OnnxRuntimeRunner(onnx, provider=provider, threads=threads, input_size=cfg.size), onnx
    if family == "openvino":
        from unet_edge.runtime.runners.openvino import OpenVINORunner

        return OpenVINORunner(onnx, device=cfg.device or "CPU", precision="bf16" if precision == "bf16" else "f32",
                              threads=threads, input_size=cfg.size), onnx
    from unet_edge.runtime.runners.tensorrt import TensorRTRunner

    if onnx is None:
        return TensorRTRunner(cfg.model), cfg.model
    from unet_edge.export.tensorrt.from_export import build_from_export, siblings

    engine = build_from_export(siblings(onnx), precision, log=lambda _m: None)
    return TensorRTRunner(engine), engine


def run_bench(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    """Run every requested backend; returns rows, settings and the system description. Bad options, a
    model that cannot be opened and a named backend that cannot run here fail before anything runs."""
    from unet_edge.core.shipped import resolve_model
    from unet_edge.core.sysinfo import system, usable_cores
    from unet_edge.core.tensorflow_files import refuse_tensorflow
    from unet_edge.export.verify import CLASS_DROP, Gate, compare

    check_options(cfg)
    names, explicit = requested(cfg)
    cfg = replace(cfg, model=resolve_model(cfg.model, log))
    refuse_tensorflow(cfg.model)
    if not cfg.model.is_file():
        raise ConfigError(f"--model {cfg.model}: not a file; give a checkpoint, an ONNX file or an engine")
    kind = model_kind(cfg.model)
    if cfg.spec is not None and kind in ("onnx", "engine"):
        raise ConfigError(f"{cfg.model.name} is an export of unet-edge: its sidecar records its classes and input "
                          "contract, so the model options do not apply")
    have = open_model(cfg, kind)
    check_requested(names, explicit, cfg, kind, have)
    threads = cfg.threads or usable_cores()
    calib = cfg.source or (f"{cfg.dataset}:{cfg.data}" if cfg.data else None)
    cache = ArtifactCache(cfg.model, cfg.size, calib, cfg.cache_dir, log, cfg.subpixel, cfg.spec,
                          cfg.exports) \
        if kind in CACHED_KINDS else None
    check_cache(cfg, cfg.model, cache)
    frames, labelled, frames_from = _frames(cfg)
    rows, reference = [], None
    for name in names:
        precision = BACKENDS[name].precision
        row = Row(name, precision)
        rows.append(row)
        why = known_reason(name, cfg, kind, have)
        if why:
            row.status, row.reason = "unavailable", why
            continue
        try:
            runner, artifact = open_backend(name, cfg, cache, threads)
            row.load_ms, row.first_run_ms = _activate(runner)
        except UnetEdgeError as exc:  # BenchError, an export/engine error, an absent device: shown as the reason
            row.status, row.reason = "unavailable", str(exc)
            continue
        row.artifact, row.size_mb = str(artifact), Path(artifact).stat().st_size / 1e6
        try:
            log(f"timing {name} ({precision}) ...")
            outs = _masks(runner, frames)
            if reference is None:
                reference = outs
            # labels in another model's classes say nothing of this one's accuracy
            labels = labelled[0] if labelled and labelled[1] == list(runner.classes) else None
            gate = compare(name, precision, outs, reference, labels, list(runner.classes), Gate())
            row.agreement = gate.agreement
            if not gate.passed:
                row.status = "exported-but-failed-validation"
                row.reason = f"agrees with the first backend on {100 * row.agreement:.2f}% of pixels" + (
                    f", mIoU {100 * gate.miou_delta:+.2f} pts, worst class {gate.worst_class} "
                    f"{100 * gate.worst_class_delta:+.2f} pts" if labels else "")
            if gate.drops and labels:
                row.notes.append(f"classes down more than {100 * gate.max_class_drop:.1f} pts of IoU against the "
                                 f"labels: {', '.join(gate.drops)}")
            elif gate.drops:
                row.notes.append(f"classes under {100 * (1 - CLASS_DROP):.0f}% IoU against the first backend: "
                                 f"{', '.join(gate.drops)}")
            row.timing = _time(runner, frames, cfg).to_dict()
            if cfg.data:
                row.miou = _miou(runner, cfg)
            if cfg.source:
                row.stream = _stream(runner, cfg)
        finally:
            runner.deactivate()
    return {"rows": [r.__dict__ for r in rows], "requested": names if explicit else [],
            "threads": threads, "batch": cfg.batch, "frames": frames_from,
            "size": list(cfg.size) if cfg.size else None, "model": str(cfg.model), "system": system(),
            "iters": cfg.iters, "warmup": cfg.warmup}


def _activate(runner) -> tuple[float, float | None]:
    """Activate ``runner``: (ms this load took, ms of an uncached OpenVINO compile). A load that OpenVINO's
    compile cache served says nothing of a first run, so that compile is timed again in a throwaway cache."""
    import tempfile
    import time

    def timed(r) -> float:
        t0 = time.perf_counter()
        r.activate()
        return 1e3 * (time.perf_counter() - t0)

    load_ms = timed(runner)
    if runner.backend != "openvino":
        return load_ms, None
    if not runner.cache_hit:
        return load_ms, load_ms
    from unet_edge.runtime.runners.openvino import OpenVINORunner

    with tempfile.TemporaryDirectory() as tmp:
        fresh = OpenVINORunner(runner.path, runner.device, runner.inference_precision, runner.threads,
                               cache_dir=tmp, input_size=runner.input_size)
        try:
            return load_ms, timed(fresh)
        finally:
            fresh.deactivate()


def _masks(runner, frames):
    import cv2

    h, w = runner.input_size
    outs = []
    for f in frames:
        out = runner.infer(cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR))
        outs.append(out.argmax(0).astype(np.uint8) if out.ndim == 3 else out)
    return outs


def _time(runner, frames, cfg: BenchConfig):
    from unet_edge.bench.timing import time_runner
    from unet_edge.runtime.render import Renderer

    renderer = Renderer(runner.classes, runner.palette)
    return time_runner(runner, frames, cfg.batch, cfg.warmup, cfg.iters, cfg.min_seconds, renderer)


def _miou(runner, cfg: BenchConfig) -> float:
    from unet_edge.data import open_dataset
    from unet_edge.evaluate import check_classes, evaluate

    ds = open_dataset(cfg.dataset, cfg.data, "val")
    check_classes(ds, runner.classes, str(cfg.model))
    if cfg.data_limit:
        ds.pairs = ds.pairs[: cfg.data_limit]
    return evaluate(runner, ds)["scores"]["miou"]


def _stream(runner, cfg: BenchConfig) -> dict:
    """End-to-end pipeline numbers on the video: throughput (every frame) and live-paced latency."""
    from unet_edge.runtime.pipeline import Pipeline, StreamOptions
    from unet_edge.runtime.render import Renderer
    from unet_edge.runtime.sources import open_source

    out = {}
    for mode, realtime in (("file", False), ("live", True)):
        pipe = Pipeline(runner, open_source(cfg.source), Renderer(runner.classes, runner.palette),
                        StreamOptions(max_frames=cfg.stream_frames, realtime=realtime))
        for _ in pipe.frames():  # the pipeline records each frame
            pass
        s = pipe.stats.summary()
        out[mode] = {"fps": s["fps"], "latency_p50": s["latency_ms"]["p50"], "latency_p99": s["latency_ms"]["p99"],
                     "dropped": s["dropped"], "frames": s["frames"]}
    return out
