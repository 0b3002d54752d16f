"""The export side of TensorRT, in one place: which engine a TensorRT release builds and how
(``plan``), the build itself (``engine``, with ``progress``), and ``unet-edge build``'s choice of the
exported graph for a precision (``from_export``). The engine checks and CUDA stay in the runtime,
beside its TensorRT runner."""
