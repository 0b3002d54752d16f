"""``bench``'s plan, checked before anything is exported or timed: its options, its outputs against its
inputs, the model opened once, and the backends named in ``--backends``.

The rule for exit codes: bench fails (one line, exit 1) when the model cannot be opened, or when a backend
named explicitly in ``--backends`` cannot run; a backend it merely tried (``all``) stays a row that says
why it is unavailable. What can be known before running is refused here; a named backend that fails
while running is refused after the table (:func:`check_requested_ran`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from unet_edge.bench.backends import BACKENDS, parse_backends, unavailable_reason
from unet_edge.core.errors import BenchError, ConfigError


@dataclass
class BenchConfig:
    model: Path
    backends: str = "all"
    size: tuple[int, int] | None = None
    batch: int = 1
    warmup: int = 10
    iters: int = 50
    min_seconds: float = 2.0
    threads: int | None = None
    data: Path | None = None
    dataset: str = "camvid"
    data_limit: int | None = None
    source: str | None = None
    stream_frames: int = 150
    cache_dir: Path | None = None
    exports: Path | None = None  # a folder of this checkpoint's exports to time instead of exporting anew
    provider: str = "cpu"  # ONNX Runtime's; "openvino": ONNX Runtime FP32 as the reference, then OpenVINO's rows
    subpixel: bool = False
    device: str | None = None  # OpenVINO's device for the openvino rows (default CPU)
    spec: object | None = None  # a models.foreign.ForeignSpec: a model unet-edge did not train


# ``--provider openvino``: the rows that compare OpenVINO with ONNX Runtime FP32 on this box.
OPENVINO_ROWS = ("onnxruntime", "openvino", "openvino-bf16", "openvino-int8")
CACHED_KINDS = ("torch", "foreign-onnx")  # the kinds whose rows export into the cache


def check_options(cfg: BenchConfig) -> None:
    """Bounds of the numbers, and the backend names (unknown ones list the known)."""
    least = {"--batch": (cfg.batch, 1), "--iters": (cfg.iters, 1), "--warmup": (cfg.warmup, 0),
             "--stream-frames": (cfg.stream_frames, 1), "--threads": (cfg.threads, 1),
             "--data-limit": (cfg.data_limit, 1)}
    for option, (value, low) in least.items():
        if value is not None and value < low:
            raise ConfigError(f"{option} {value}: give at least {low}")
    if not (math.isfinite(cfg.min_seconds) and cfg.min_seconds >= 0):
        raise ConfigError(f"--min-seconds {cfg.min_seconds:g}: give 0 or more seconds")
    if cfg.size is not None and (len(cfg.size) != 2 or min(cfg.size) < 16):
        raise ConfigError(f"--size {'x'.join(map(str, cfg.size))}: give HxW with both sides at least 16")
    requested(cfg)


def requested(cfg: BenchConfig) -> tuple[list[str], bool]:
    """(the backends to run, whether ``--backends`` named them rather than ``all``)."""
    if cfg.backends.strip() == "all":
        return (list(OPENVINO_ROWS) if cfg.provider == "openvino" else list(BACKENDS)), False
    try:
        return parse_backends(cfg.backends), True
    except ConfigError as exc:
        raise ConfigError(f"--backends {cfg.backends}: {exc}") from exc


def check_outputs(cfg: BenchConfig, model: Path, json_out: Path | None, plot: Path | None) -> None:
    """``--json`` and ``--plot`` are files that no input is, and ``--plot`` can be drawn here."""
    from unet_edge.core.plan import check_disjoint

    for option, path in (("--json", json_out), ("--plot", plot)):
        if path is not None and Path(path).is_dir():
            raise ConfigError(f"{option} {path}: a folder; give a file name")
    check_disjoint(_inputs(cfg, model), {"--json": json_out, "--plot": plot})
    if plot is not None:
        from unet_edge.core.lazy import require

        require("matplotlib")  # the plot is drawn last: a missing matplotlib must not cost the timing


def check_cache(cfg: BenchConfig, model: Path, cache) -> None:
    """The cache folder the exports go to (an ArtifactCache's) is no input and lies in none."""
    from unet_edge.core.plan import check_disjoint

    if cache is not None and cfg.cache_dir is not None:
        check_disjoint(_inputs(cfg, model), {"--cache-dir": cache.dir})


def _inputs(cfg: BenchConfig, model: Path) -> dict:
    from unet_edge.core.plan import local_paths

    beside = [model.with_name(model.name + suffix) for suffix in (".json", ".report.json")]
    return {"--model": [model, *(p for p in beside if p.exists())], "--data": cfg.data,
            "--source": local_paths([cfg.source]) if cfg.source else None}


def open_model(cfg: BenchConfig, kind: str) -> str | None:
    """Open ``cfg.model`` once as its rows would: one line (exit 1) where it cannot be. Returns the
    precision of an export (None for a model that bench exports itself)."""
    if kind in ("onnx", "engine"):
        from unet_edge.core.artifact import load_meta

        return load_meta(cfg.model).precision
    if kind == "foreign-onnx":
        from unet_edge.export.bodies import check_graph_spec
        from unet_edge.export.onnx_body import load

        spec = check_graph_spec(cfg.model, cfg.spec)
        load(cfg.model)  # a file that is no ONNX says so, before its contract is asked for
        spec.contract.require_stated(cfg.model.name)
        return None
    from unet_edge.core.lazy import require

    require("torch")
    from unet_edge.export.any_model import open_reference

    open_reference(cfg.model, cfg.spec, cfg.size)  # reads the checkpoint (or the foreign model) as the rows will
    return None


def known_reason(name: str, cfg: BenchConfig, kind: str, have: str | None) -> str | None:
    """Why backend ``name`` cannot run, where that is known before running it, else None."""
    why = unavailable_reason(name, kind)
    if why:
        return why
    backend = BACKENDS[name]
    if kind == "onnx" and backend.family not in ("tensorrt", "torch") and have != backend.export:
        return f"{cfg.model.name} is {have}; pass the checkpoint to bench other precisions"
    if kind in CACHED_KINDS and backend.export == "int8" and not (cfg.source or cfg.data):
        return "INT8 needs calibration frames: pass --data or --source (real frames)"
    return None


def check_requested(names: list[str], explicit: bool, cfg: BenchConfig, kind: str, have: str | None) -> None:
    """A backend named in ``--backends`` that cannot run here is one line before anything runs."""
    if not explicit:
        return
    for name in names:
        why = known_reason(name, cfg, kind, have)
        if why:
            raise BenchError(f"--backends {cfg.backends}: {name} cannot run here: {why}")


def check_requested_ran(result: dict) -> None:
    """After the table: a backend named in ``--backends`` that failed while running fails the command."""
    failed = [r for r in result["rows"] if r["backend"] in result.get("requested", ()) and r["status"] == "unavailable"]
    if failed:
        raise BenchError(f"--backends {','.join(result['requested'])}: "
                         + "; ".join(f"{r['backend']} could not run: {' '.join(r['reason'].split())}" for r in failed))
