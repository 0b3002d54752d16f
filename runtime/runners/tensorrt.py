"""Native TensorRT runner for ``.engine`` files: named tensors, ``set_tensor_address`` and
``execute_async_v3``, buffers allocated once, one stream, uint8 in and out.

On Jetson (integrated GPU) the host buffers are mapped, so the GPU reads and writes them in
place and the two copies disappear.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from unet_edge.runtime.engine_check import check_engine, deserialize_failed
from unet_edge.runtime.metadata import load_meta
from unet_edge.runtime.runners.base import Runner

from unet_edge._lazy import require
from unet_edge.errors import EngineError


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, path: str | Path, zero_copy: bool | None = None) -> None:
        super().__init__(path, load_meta(path))
        self.zero_copy = zero_copy
        self.timings: dict[str, float] = {}

    def activate(self) -> None:
        trt = require("tensorrt")
        from unet_edge.runtime.cuda import cuda, device_info

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
        self.out = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.mapped = info["integrated"] if self.zero_copy is None else self.zero_copy
        self.stream = self.cu.stream()
        self._ptrs: list[tuple[str, int]] = []
        self._shape: tuple[int, ...] | None = None
        self._trt = trt

    def _allocate(self, shape: tuple[int, ...]) -> None:
        from unet_edge.runtime.cuda import host_array

        self._release()
        trt = self._trt
        self.context.set_input_shape(self.inp, shape)
        out_shape = tuple(self.context.get_tensor_shape(self.out))
        in_dtype = _np_dtype(trt, self.engine.get_tensor_dtype(self.inp))
        out_dtype = _np_dtype(trt, self.engine.get_tensor_dtype(self.out))
        bufs = {}
        for name, shp, dt in ((self.inp, shape, in_dtype), (self.out, out_shape, out_dtype)):
            nbytes = int(np.prod(shp)) * dt.itemsize
            host = self.cu.host_alloc(nbytes, self.mapped)
            self._ptrs.append(("host", host))
            if self.mapped:
                dev = self.cu.device_pointer(host)
            else:
                dev = self.cu.malloc(nbytes)
                self._ptrs.append(("dev", dev))
            self.context.set_tensor_address(name, dev)
            bufs[name] = (host_array(host, shp, dt), host, dev, nbytes)
        self.h_in, self._in_host, self._in_dev, self._in_n = bufs[self.inp]
        self.h_out, self._out_host, self._out_dev, self._out_n = bufs[self.out]
        self._shape = shape

    def _release(self) -> None:
        for kind, ptr in getattr(self, "_ptrs", []):
            (self.cu.free_host if kind == "host" else self.cu.free)(ptr)
        self._ptrs = []

    def deactivate(self) -> None:
        self._release()
        self.context = self.engine = self.runtime = None

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape != self._shape:
            self._allocate(batch.shape)
        t0 = time.perf_counter()
        np.copyto(self.h_in, batch)
        if not self.mapped:
            self.cu.copy(self._in_dev, self._in_host, self._in_n, 1, self.stream)
            self.cu.sync(self.stream)  # so h2d_ms measures the copy alone
        t1 = time.perf_counter()
        if not self.context.execute_async_v3(self.stream):
            raise EngineError(f"{self.path.name}: TensorRT execution failed")
        self.cu.sync(self.stream)
        t2 = time.perf_counter()
        if not self.mapped:
            self.cu.copy(self._out_host, self._out_dev, self._out_n, 2, self.stream)
            self.cu.sync(self.stream)
        out = self.h_out.copy()
        self.timings = {"h2d_ms": 1e3 * (t1 - t0), "compute_ms": 1e3 * (t2 - t1),
                        "d2h_ms": 1e3 * (time.perf_counter() - t2)}
        return out


def _np_dtype(trt, dt) -> np.dtype:
    """numpy dtype of a TensorRT DataType (``trt.nptype`` lacks UINT8 on some 8.x releases)."""
    table = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "UINT8": np.uint8,
             "BOOL": np.bool_, "INT64": np.int64}
    name = getattr(dt, "name", str(dt)).split(".")[-1].upper()
    if name not in table:
        raise EngineError(f"unsupported engine I/O type {name}; re-export with 'unet-edge export'")
    return np.dtype(table[name])
