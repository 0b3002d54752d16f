"""ONNX Runtime runner: CPU, CUDA or the TensorRT execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from unet_edge.runtime.metadata import ArtifactMeta, load_meta
from unet_edge.runtime.runners.base import Runner

from unet_edge._lazy import require
from unet_edge.errors import ConfigError, ExportError

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def cpu_threads() -> int:
    """Default intra-op threads: every core this process may use."""
    from unet_edge.sysinfo import usable_cores

    return usable_cores()


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
    return opts


class OnnxRuntimeRunner(Runner):
    """Runs an exported ``.onnx`` with ONNX Runtime; the output buffer is allocated once."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None,
                 meta: ArtifactMeta | None = None, cache_dir: str | Path | None = None) -> None:
        super().__init__(path, meta or load_meta(path))
        if device not in PROVIDERS:
            raise ConfigError(f"unknown device '{device}' for onnxruntime; choose cpu, cuda or tensorrt")
        self.device = device
        self.threads = threads or cpu_threads()
        self.cache_dir = Path(cache_dir) if cache_dir else self.path.parent / ".trt-cache"
        self.session = None

    def _providers(self, ort) -> list:
        wanted = PROVIDERS[self.device]
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
                                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(self.cache_dir)}))
            else:
                out.append(p)
        return out

    def activate(self) -> None:
        ort = require("onnxruntime")
        opts = session_options(self.threads)
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=self._providers(ort))
        except ConfigError:
            raise
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"{self.path}: ONNX Runtime cannot load this model (corrupt, truncated or not "
                              f"ONNX): {first}") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self._out: np.ndarray | None = None

    def deactivate(self) -> None:
        self.session = None

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers() if self.session else []
