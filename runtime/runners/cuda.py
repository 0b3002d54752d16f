"""A minimal CUDA runtime shim: cuda-python (``cuda.bindings.runtime`` in >= 12.6/13,
``cuda.cudart`` before) or, failing both, ctypes over libcudart. Only what the TensorRT
runner needs: pinned/mapped host memory, device memory, one stream, async copies."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from unet_edge.core.errors import EngineError, MissingDependencyError

H2D, D2H = 1, 2  # cudaMemcpyKind
HOST_ALLOC_MAPPED = 2  # cudaHostAllocMapped
ATTR_CC_MAJOR, ATTR_CC_MINOR, ATTR_INTEGRATED = 75, 76, 18


class _Bindings:
    """cuda-python: every call returns (err, *values)."""

    def __init__(self, mod) -> None:
        self.rt = mod

    def _ok(self, result, what: str):
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise EngineError(f"CUDA {what} failed: {err}")
        return rest[0] if len(rest) == 1 else rest

    def host_alloc(self, n: int, mapped: bool) -> int:
        return int(self._ok(self.rt.cudaHostAlloc(n, HOST_ALLOC_MAPPED if mapped else 0), "cudaHostAlloc"))

    def device_pointer(self, host: int) -> int:
        return int(self._ok(self.rt.cudaHostGetDevicePointer(host, 0), "cudaHostGetDevicePointer"))

    def malloc(self, n: int) -> int:
        return int(self._ok(self.rt.cudaMalloc(n), "cudaMalloc"))

    def free(self, ptr: int) -> None:
        self._ok(self.rt.cudaFree(ptr), "cudaFree")

    def free_host(self, ptr: int) -> None:
        self._ok(self.rt.cudaFreeHost(ptr), "cudaFreeHost")

    def stream(self) -> int:
        return int(self._ok(self.rt.cudaStreamCreate(), "cudaStreamCreate"))

    def destroy_stream(self, stream: int) -> None:
        self._ok(self.rt.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def copy(self, dst: int, src: int, n: int, kind: int, stream: int) -> None:
        self._ok(self.rt.cudaMemcpyAsync(dst, src, n, self.rt.cudaMemcpyKind(kind), stream), "cudaMemcpyAsync")

    def sync(self, stream: int) -> None:
        self._ok(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def attribute(self, attr: int, dev: int = 0) -> int:
        return int(self._ok(self.rt.cudaDeviceGetAttribute(self.rt.cudaDeviceAttr(attr), dev), "attribute"))

    def name(self, dev: int = 0) -> str:
        props = self._ok(self.rt.cudaGetDeviceProperties(dev), "cudaGetDeviceProperties")
        raw = props.name
        return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).split("\x00")[0]


class _Ctypes(_Bindings):
    """libcudart through ctypes, for boxes without cuda-python (e.g. a bare JetPack)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("cudart") or "libcudart.so"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise MissingDependencyError("cuda-python", "trt", "or the CUDA runtime libcudart") from exc

    def _call(self, fn: str, *args) -> None:
        err = getattr(self.lib, fn)(*args)
        if err != 0:
            raise EngineError(f"CUDA {fn} failed with error {err}")

    def host_alloc(self, n: int, mapped: bool) -> int:
        p = ctypes.c_void_p()
        flags = ctypes.c_uint(HOST_ALLOC_MAPPED if mapped else 0)
        self._call("cudaHostAlloc", ctypes.byref(p), ctypes.c_size_t(n), flags)
        return int(p.value)

    def device_pointer(self, host: int) -> int:
        p = ctypes.c_void_p()
        self._call("cudaHostGetDevicePointer", ctypes.byref(p), ctypes.c_void_p(host), ctypes.c_uint(0))
        return int(p.value)

    def malloc(self, n: int) -> int:
        p = ctypes.c_void_p()
        self._call("cudaMalloc", ctypes.byref(p), ctypes.c_size_t(n))
        return int(p.value)

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ctypes.c_void_p(ptr))

    def free_host(self, ptr: int) -> None:
        self._call("cudaFreeHost", ctypes.c_void_p(ptr))

    def stream(self) -> int:
        s = ctypes.c_void_p()
        self._call("cudaStreamCreate", ctypes.byref(s))
        return int(s.value or 0)

    def destroy_stream(self, stream: int) -> None:
        self._call("cudaStreamDestroy", ctypes.c_void_p(stream))

    def copy(self, dst: int, src: int, n: int, kind: int, stream: int) -> None:
        self._call("cudaMemcpyAsync", ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(n),
                   ctypes.c_int(kind), ctypes.c_void_p(stream))

    def sync(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", ctypes.c_void_p(stream))

    def attribute(self, attr: int, dev: int = 0) -> int:
        v = ctypes.c_int()
        self._call("cudaDeviceGetAttribute", ctypes.byref(v), ctypes.c_int(attr), ctypes.c_int(dev))
        return v.value

    def name(self, dev: int = 0) -> str:
        buf = ctypes.create_string_buffer(4096)  # cudaDeviceProp starts with char name[256]
        fn = "cudaGetDeviceProperties_v2"
        if not hasattr(self.lib, fn):
            fn = "cudaGetDeviceProperties"
        self._call(fn, buf, ctypes.c_int(dev))
        return buf.raw[:256].split(b"\x00")[0].decode(errors="replace")


_CUDA = None


def cuda():
    """The process-wide CUDA shim."""
    global _CUDA
    if _CUDA is None:
        try:
            from cuda.bindings import runtime as mod  # cuda-python >= 12.6 / 13
        except ImportError:
            try:
                from cuda import cudart as mod  # cuda-python < 12.6
            except ImportError:
                mod = None
        _CUDA = _Bindings(mod) if mod is not None else _Ctypes()
    return _CUDA


def device_info(dev: int = 0) -> dict:
    """Name, compute capability and whether the GPU shares memory with the CPU (Jetson)."""
    c = cuda()
    cc = f"{c.attribute(ATTR_CC_MAJOR, dev)}.{c.attribute(ATTR_CC_MINOR, dev)}"
    return {"name": c.name(dev), "compute_capability": cc,
            "integrated": bool(c.attribute(ATTR_INTEGRATED, dev))}


def host_array(ptr: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A numpy view over ``ptr`` (pinned host memory)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    buf = (ctypes.c_uint8 * n).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)
