"""Native TensorRT runner for ``.engine`` files: named tensors, ``set_tensor_address`` and
``execute_async_v3``, buffers allocated once per input shape (a few kept), one stream, uint8 in and out.

On Jetson (integrated GPU) the host buffers are mapped, so the GPU reads and writes them in
place and the copies disappear. Everything allocated (buffers, stream) is released by deactivate().
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import ArtifactError, EngineError
from unet_edge.core.lazy import require
from unet_edge.runtime.runners.base import Runner, Stages, resolve_meta
from unet_edge.runtime.runners.cuda import D2H, H2D
from unet_edge.runtime.runners.engine_check import check_engine, deserialize_failed, engine_info

KEEP_SHAPES = 4  # batch shapes whose buffers stay allocated: one per footage aspect in a multi-camera run


@dataclass
class _Binding:
    host: np.ndarray  # a view over pinned (or mapped) host memory
    host_ptr: int
    dev_ptr: int
    nbytes: int


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, path: str | Path | None = None, zero_copy: bool | None = None,
                 input_size: Sequence[int] | None = None, meta: ArtifactMeta | None = None) -> None:
        super().__init__(resolve_meta(path, meta), input_size)
        engine_info(self.meta)  # an engine's contract says what built it
        self.zero_copy = zero_copy
        self.stream: int | None = None
        self._by_shape: dict[tuple[int, ...], tuple[list[tuple[str, int]], dict[str, _Binding]]] = {}
        self._bufs: dict[str, _Binding] = {}
        self._shape: tuple[int, ...] | None = None

    def _activate(self) -> None:
        trt = require("tensorrt")
        from unet_edge.runtime.runners.cuda import cuda, device_info

        self.cu = cuda()
        info = device_info()
        check_engine(self.meta, trt.__version__, info["name"], info["compute_capability"])
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise deserialize_failed(self.meta, trt.__version__, info["name"])
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inp = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        absent = [n for n in self.output_names if n not in outputs]
        if absent:
            raise ArtifactError(f"{self.path}: the engine has no output {', '.join(absent)} that its sidecar names")
        self.mapped = info["integrated"] if self.zero_copy is None else self.zero_copy
        self.stream = self.cu.stream()
        self._trt = trt
        if self.sized_by_frames:  # a dynamic engine takes the sizes of its one profile (export/tensorrt/plan.py)
            lo, _, hi = (tuple(s) for s in self.engine.get_tensor_profile_shape(self.inp, 0))
            self.size_limits = ((lo[1], lo[2]), (hi[1], hi[2]))

    def _allocate(self, shape: tuple[int, ...]) -> None:
        """Buffers for batches of ``shape``, kept for the next batch of it (the last KEEP_SHAPES shapes:
        streams of several aspects alternate), and the context pointed at them."""
        from unet_edge.runtime.runners.cuda import host_array

        self.context.set_input_shape(self.inp, shape)
        if shape not in self._by_shape:
            if len(self._by_shape) >= KEEP_SHAPES:
                self._free(self._by_shape.pop(next(iter(self._by_shape)))[0])
            ptrs: list[tuple[str, int]] = []
            bufs: dict[str, _Binding] = {}
            try:
                for name in (self.inp, *self.output_names):
                    shp = tuple(self.context.get_tensor_shape(name))
                    dt = _np_dtype(self._trt, self.engine.get_tensor_dtype(name))
                    nbytes = int(np.prod(shp)) * dt.itemsize
                    host = self.cu.host_alloc(nbytes, self.mapped)
                    ptrs.append(("host", host))
                    if self.mapped:
                        dev = self.cu.device_pointer(host)
                    else:
                        dev = self.cu.malloc(nbytes)
                        ptrs.append(("dev", dev))
                    bufs[name] = _Binding(host_array(host, shp, dt), host, dev, nbytes)
            except BaseException:
                self._free(ptrs)
                raise
            self._by_shape[shape] = (ptrs, bufs)
        self._bufs = self._by_shape[shape][1]
        for name, b in self._bufs.items():
            self.context.set_tensor_address(name, b.dev_ptr)
        self._shape = shape

    def _free(self, ptrs: list[tuple[str, int]]) -> None:
        for kind, ptr in ptrs:
            (self.cu.free_host if kind == "host" else self.cu.free)(ptr)

    def _release_buffers(self) -> None:
        for ptrs, _ in self._by_shape.values():
            self._free(ptrs)
        self._by_shape, self._bufs, self._shape = {}, {}, None

    def _deactivate(self) -> None:
        try:
            self._release_buffers()
            if self.stream is not None:
                self.cu.destroy_stream(self.stream)
        finally:
            self.stream = None
            self.context = self.engine = self.runtime = None

    def _infer(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], Stages]:
        if batch.shape != self._shape:
            self._allocate(batch.shape)
        inp = self._bufs[self.inp]
        t0 = time.perf_counter()
        np.copyto(inp.host, batch)
        if not self.mapped:
            self.cu.copy(inp.dev_ptr, inp.host_ptr, inp.nbytes, H2D, self.stream)
            self.cu.sync(self.stream)  # so h2d_ms measures the copy alone
        t1 = time.perf_counter()
        if not self.context.execute_async_v3(self.stream):
            raise EngineError(f"{self.path.name}: TensorRT execution failed")
        self.cu.sync(self.stream)
        t2 = time.perf_counter()
        if not self.mapped:
            for b in (self._bufs[n] for n in self.output_names):
                self.cu.copy(b.host_ptr, b.dev_ptr, b.nbytes, D2H, self.stream)
            self.cu.sync(self.stream)
        # Copies: the host buffers are reused by the next call while this frame moves on.
        outs = {n: self._bufs[n].host.copy() for n in self.output_names}
        stages = {"h2d_ms": 1e3 * (t1 - t0), "compute_ms": 1e3 * (t2 - t1), "d2h_ms": 1e3 * (time.perf_counter() - t2)}
        return outs, stages


def _np_dtype(trt, dt) -> np.dtype:
    """numpy dtype of a TensorRT DataType (``trt.nptype`` lacks UINT8 on some 8.x releases)."""
    table = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "UINT8": np.uint8,
             "BOOL": np.bool_, "INT64": np.int64}
    name = getattr(dt, "name", str(dt)).split(".")[-1].upper()
    if name not in table:
        raise EngineError(f"unsupported engine I/O type {name}; re-export with 'unet-edge export'")
    return np.dtype(table[name])
