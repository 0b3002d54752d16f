"""OpenVINO runner: an exported ``.onnx`` (FP32, FP16 or either INT8 flavour) on an Intel CPU, GPU or NPU.

The precision is always explicit: OpenVINO's CPU plugin computes in bf16 by default wherever the CPU
has AMX or AVX512-BF16, so the runner sets ``INFERENCE_PRECISION_HINT`` itself and reads it back from
the compiled model. Unasked, it is ``bf16`` on a bf16 CPU for an artifact whose export verified
OpenVINO's bf16 execution with the precision gate (``openvino_bf16: verified`` in its contract,
export/native_precision.py), else ``f32``; ``precision_source`` says which. Compiled models are cached in ``CACHE_DIR``
(``cache_dir()``): the first compile for a model, device and precision costs seconds, later loads
read the blob; ``compile_ms`` and ``cache_hit`` say which one a load was.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import ArtifactError, ConfigError, RunnerError
from unet_edge.core.lazy import require
from unet_edge.core.sysinfo import usable_cores
from unet_edge.runtime.runners.base import Runner, Stages, resolve_meta

PRECISIONS = ("f32", "bf16")  # OpenVINO's names for its inference precision hint
DEVICES = ("CPU", "GPU", "NPU", "AUTO")
CACHE_ENV = "UNET_EDGE_OPENVINO_CACHE"
KEEP_SIZES = 4  # compiled models kept per runner: one per footage aspect in a multi-camera run
BF16_KEY = "openvino_bf16"  # the contract's record that export verified OpenVINO's bf16 execution


def cache_dir() -> Path:
    """Where compiled models are cached: $UNET_EDGE_OPENVINO_CACHE, else the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    from unet_edge.core.io import user_cache

    return user_cache() / "openvino"


@functools.lru_cache(maxsize=1)
def core():
    """One ``openvino.Core`` per process (it loads the device plugins once)."""
    return require("openvino").Core()


def available_devices() -> list[str]:
    """The devices OpenVINO reports here (``CPU``, ``GPU``, ``GPU.1``, ``NPU``; ``AUTO`` is not one)."""
    return list(core().available_devices)


def supports_bf16(device: str = "CPU") -> bool:
    """Whether ``device`` computes in bf16 natively (AMX or AVX512-BF16 on a CPU)."""
    return "BF16" in core().get_property(device, "OPTIMIZATION_CAPABILITIES")


def default_precision(meta: ArtifactMeta, device: str) -> tuple[str, str]:
    """The precision an artifact runs at when none is asked for, and why: bf16 where its export
    verified OpenVINO's bf16 execution and ``device`` is a CPU that computes in bf16, else f32."""
    if meta.raw.get(BF16_KEY) != "verified":
        return "f32", "its export did not verify bf16"
    if not device.upper().startswith("CPU"):
        return "f32", "bf16 was verified on a CPU, not this device"
    if not supports_bf16(device):
        return "f32", "this CPU has no bf16"
    return "bf16", "verified by its export"


def check_device(device: str) -> list[str]:
    """The real devices ``device`` may run on (every available one for AUTO); a ConfigError if absent."""
    name = device.upper()
    have = available_devices()
    if name not in DEVICES and name.split(".")[0] not in DEVICES:
        raise ConfigError(f"unknown OpenVINO device '{device}'; choose {' | '.join(DEVICES)}")
    if name == "AUTO":
        return have
    matches = [d for d in have if d == name or d.startswith(name + ".")]
    if not matches:
        raise ConfigError(f"OpenVINO device {name} is not available here; OpenVINO reports: "
                          f"{', '.join(have) or 'none'} (or AUTO)")
    return matches[:1]


def check_precision(precision: str, devices: Sequence[str]) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown OpenVINO precision '{precision}'; choose {' | '.join(PRECISIONS)}")
    lacking = [d for d in devices if precision == "bf16" and not supports_bf16(d)]
    if lacking:
        raise ConfigError(f"OpenVINO bf16 needs a device that computes in bf16 (AMX or AVX512-BF16 on a CPU); "
                          f"{', '.join(lacking)} does not here: use --precision f32")


class OpenVINORunner(Runner):
    """Runs an exported ``.onnx`` with OpenVINO on ``device`` at ``precision`` (f32 | bf16).

    ``precision`` is what a float graph computes in (an INT8 graph's float layers too); None: see
    :func:`default_precision`. The runner's ``precision`` attribute is ``bf16`` for a float artifact
    run in bf16 and the artifact's otherwise.
    """

    backend = "openvino"

    def __init__(self, path: str | Path | None = None, device: str = "CPU", precision: str | None = None,
                 threads: int | None = None, meta: ArtifactMeta | None = None, cache_dir: str | Path | None = None,
                 input_size: Sequence[int] | None = None) -> None:
        super().__init__(resolve_meta(path, meta), input_size)
        self.device = device.upper()
        self.precision_source = "asked for"
        if precision is None:
            require("openvino")
            precision, self.precision_source = default_precision(self.meta, self.device)
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown OpenVINO precision '{precision}'; choose {' | '.join(PRECISIONS)}")
        self.inference_precision = precision
        self.artifact_precision = self.precision
        if precision == "bf16" and self.precision != "int8":
            self.precision = "bf16"
        self.threads = threads or usable_cores()
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.compile_ms: float | None = None
        self.cache_hit: bool | None = None
        self.execution_devices: list[str] = []
        self.compiled = None  # the latest size's compiled model (its properties say how it runs)

    def describe(self) -> str:
        why = [] if self.precision_source == "asked for" else [self.precision_source]
        if self.precision == "int8":
            return f"{self.backend} int8 ({', '.join([f'float parts {self.inference_precision}', *why])})"
        return f"{self.backend} {self.precision}" + (f" ({why[0]})" if why else "")

    def _config(self, devices: Sequence[str]) -> dict:
        """Compile properties: the precision and latency hints always, threads on a CPU."""
        def for_device(d: str) -> dict:
            cfg = {"INFERENCE_PRECISION_HINT": self.inference_precision, "PERFORMANCE_HINT": "LATENCY"}
            return {**cfg, "INFERENCE_NUM_THREADS": self.threads} if d.startswith("CPU") else cfg

        cache = self.cache_dir or cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        if self.device == "AUTO":  # AUTO takes no device hints itself: it hands each device its own
            return {"PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(cache),
                    "DEVICE_PROPERTIES": {d: for_device(d) for d in devices}}
        return {**for_device(self.device), "CACHE_DIR": str(cache)}

    def _activate(self) -> None:
        require("openvino")
        self._devices = check_device(self.device)
        check_precision(self.inference_precision, self._devices)
        try:
            model = core().read_model(str(self.path))
        except Exception as exc:  # OpenVINO raises plain RuntimeErrors with multi-line C++ context
            raise ArtifactError(f"{self.path}: OpenVINO cannot read this model (corrupt, truncated or not ONNX): "
                                f"{_first_line(exc)}") from exc
        graph_outputs = {n for o in model.outputs for n in o.names}
        absent = [n for n in self.output_names if n not in graph_outputs]
        if absent:
            raise ArtifactError(f"{self.path}: the graph has no output {', '.join(absent)} that its sidecar names; "
                                "the sidecar belongs to another export")
        self._model = model
        self._by_size: dict[tuple[int, int], tuple] = {}
        self._prepare(self.input_size)

    def _prepare(self, size: tuple[int, int]) -> None:
        """Compile for frames of ``size`` unless done: a dynamic height/width costs OpenVINO's CPU plugin
        speed, so each size gets its own compiled model (the last few are kept). A failed compile changes
        nothing."""
        if size in self._by_size:
            return
        model = self._model
        if model.is_dynamic():
            model = model.clone()
            model.reshape({model.inputs[0]: [-1 if self.meta.batch_dynamic else self.meta.input.shape[0], *size, 3]})
        config = self._config(self._devices)
        blobs = _files(Path(config["CACHE_DIR"]))
        t0 = time.perf_counter()
        try:
            compiled = core().compile_model(model, self.device, config)
        except Exception as exc:
            raise RunnerError(f"OpenVINO cannot compile {self.path.name} for {self.device} at "
                              f"{self.inference_precision} ({size[0]}x{size[1]}): {_first_line(exc)}") from exc
        got = _precision_of(compiled)
        if got is not None and got != self.inference_precision:
            raise RunnerError(f"OpenVINO compiled {self.path.name} at {got}, not the {self.inference_precision} "
                              "asked for")
        outputs = [next(o for o in compiled.outputs if n in o.names) for n in self.output_names]
        if len(self._by_size) >= KEEP_SIZES:  # the oldest size other than the export's
            self._by_size.pop(next(k for k in self._by_size if k != self.input_size))
        self._by_size[size] = (compiled, compiled.create_infer_request(), outputs)
        self.compile_ms = 1e3 * (time.perf_counter() - t0)
        self.cache_hit = _files(Path(config["CACHE_DIR"])) <= blobs
        self.execution_devices = list(compiled.get_property("EXECUTION_DEVICES"))
        self.compiled = compiled

    def compiled_precision(self) -> str | None:
        """The inference precision the compiled model reports (None where the device does not say: AUTO)."""
        return _precision_of(self.compiled)

    def _deactivate(self) -> None:
        self.compiled = self._model = None
        self._by_size = {}

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:
        size = (int(batch.shape[1]), int(batch.shape[2]))
        if size not in self._by_size:
            if not self.sized_by_frames:
                h, w = self.input_size
                raise ConfigError(f"OpenVINO compiled {self.path.name} for {h}x{w}; got a {size[0]}x{size[1]} "
                                  "frame (pass input_size, or resize it: Segmenter does)")
            self._prepare(size)  # a caller that did not fit_to first pays the compile here
        _, request, outputs = self._by_size[size]
        # The request copies each output out (share_outputs=False): masks leave for other threads.
        res = request.infer({0: batch}, share_inputs=True)
        return {n: res[o] for n, o in zip(self.output_names, outputs)}, {}


def _precision_of(compiled) -> str | None:
    try:
        return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    except Exception:  # AUTO's compiled model answers only for itself, not its devices' hints
        return None


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _first_line(exc: BaseException) -> str:
    """The message of an OpenVINO exception without its 'Exception from src/...cpp:N:' location lines."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Exception from ")]
    return (lines[0] if lines else type(exc).__name__)[:200]
