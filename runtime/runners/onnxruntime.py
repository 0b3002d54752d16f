"""ONNX Runtime runner: the CPU, CUDA or TensorRT execution provider."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import ArtifactMeta, profile_shapes
from unet_edge.core.errors import ArtifactError, ConfigError
from unet_edge.core.lazy import require
from unet_edge.core.shipped import derived_dir
from unet_edge.core.sysinfo import usable_cores
from unet_edge.runtime.runners.base import Runner, Stages, resolve_meta
from unet_edge.runtime.runners.int8_probe import warn_if_saturating

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def session_options(threads: int):
    """The ``onnxruntime.SessionOptions`` every runner session uses (benchmarks profile with these too)."""
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Memory patterns pre-plan one block for every intermediate tensor: at 352x480 that is
    # ~70 MB more peak RSS, for latency within run-to-run noise (FP32 and INT8, 2 threads).
    opts.enable_mem_pattern = False
    # Errors only: the optimiser warns once per Clip bound it frees when it fuses a quantized ReLU6
    # into its conv (60 lines for each EfficientNet-Lite INT8 load); a missing provider is our own error.
    opts.log_severity_level = 3
    return opts


class OnnxRuntimeRunner(Runner):
    """Runs an exported ``.onnx`` with ONNX Runtime. Outputs are allocated by ONNX Runtime per call:
    the pipeline hands each frame's mask to other threads, so a reused buffer would need a ring
    of them, and one mask is a few hundred KB against tens of ms of compute."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path | None = None, provider: str = "cpu", threads: int | None = None,
                 meta: ArtifactMeta | None = None, cache_dir: str | Path | None = None,
                 input_size: Sequence[int] | None = None) -> None:
        super().__init__(resolve_meta(path, meta), input_size)
        if provider not in PROVIDERS:
            raise ConfigError(f"unknown ONNX Runtime provider '{provider}'; choose {', '.join(PROVIDERS)}")
        self.provider = provider
        self.threads = threads or usable_cores()
        self.cache_dir = Path(cache_dir) if cache_dir else derived_dir(self.path) / ".trt-cache"
        self.session = None
        self.int8_saturates = False  # set on activate: 8-bit INT8 weights on CPU kernels that clip them

    def _providers(self, ort) -> list:
        wanted = PROVIDERS[self.provider]
        have = ort.get_available_providers()
        if wanted[0] not in have:
            raise ConfigError(f"ONNX Runtime provider {wanted[0]} is not available here; installed: "
                              f"{', '.join(have)} (install 'unet-edge[gpu]' for CUDA/TensorRT)")
        out: list = []
        for p in wanted:
            if p not in have:
                continue
            if p == "TensorrtExecutionProvider":
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                out.append((p, {"trt_fp16_enable": self.precision != "fp32",
                                "trt_int8_enable": self.precision == "int8",
                                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(self.cache_dir),
                                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(self.cache_dir),
                                **self._trt_profile()}))
            else:
                out.append(p)
        return out

    def _trt_profile(self) -> dict[str, str]:
        """A dynamic export's one shape profile, as ``build`` makes it (else TensorRT builds an engine per
        new shape it sees), and the sizes ``size_for`` keeps to."""
        shapes = profile_shapes(self.meta.input.shape, self.meta.train_input_size)
        if shapes is None:
            return {}
        lo, _, hi = shapes
        self.size_limits = ((lo[1], lo[2]), (hi[1], hi[2]))
        name = self.meta.input.name
        return {f"trt_profile_{kind}_shapes": f"{name}:{'x'.join(map(str, shape))}"
                for kind, shape in zip(("min", "opt", "max"), shapes)}

    def _activate(self) -> None:
        ort = require("onnxruntime")
        opts = session_options(self.threads)
        providers = self._providers(ort)
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{self.path}: ONNX Runtime cannot load this model (corrupt, truncated or not "
                                f"ONNX): {first}") from exc
        self.input_name = self.session.get_inputs()[0].name
        graph_outputs = {o.name for o in self.session.get_outputs()}
        absent = [n for n in self.output_names if n not in graph_outputs]
        if absent:
            raise ArtifactError(f"{self.path}: the graph has no output {', '.join(absent)} that its sidecar names; "
                                "the sidecar belongs to another export")
        # An 8-bit-weight INT8 graph from a VNNI machine still runs on one without, with lost accuracy.
        self.int8_saturates = self.provider == "cpu" and warn_if_saturating(self.meta)

    def _deactivate(self) -> None:
        self.session = None

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:
        outs = self.session.run(self.output_names, {self.input_name: batch})
        return dict(zip(self.output_names, outs)), {}

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers() if self.session else []
