"""``--int8-target openvino``: INT8 by NNCF, OpenVINO's own quantizer, as an ONNX QDQ graph that OpenVINO
runs (ONNX Runtime runs it too, slower: its QDQ placement is OpenVINO's, figures in benchmarks/README.md).

Statistics once: ``nncf.quantize`` runs one pass over the calibration frames and its graph is cached;
every float-layer choice of the search is then made from that graph by surgery (the layer's inputs read
the float tensors again, its weights and bias the FP32 graph's), never by calibrating again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unet_edge.core.errors import ExportError
from unet_edge.core.io import atomic_path
from unet_edge.core.lazy import require
from unet_edge.export.int8.statistics import prefix_spread
from unet_edge.export.int8.surgery import keep_float

PRESET = "performance"  # symmetric activations: OpenVINO's CPU default; mixed measured 0.1 pts better, 5% slower
SUBSET = 300  # NNCF's default: frames its statistics read
DEPLOY_SCOPE = "^/deploy/.*"  # the graph's own pre- and post-processing: exact, never quantized


def quantize_openvino(fp32_onnx: Path, dest: Path, frames: list[np.ndarray], float_nodes: list[str],
                      cache: Path | None = None) -> dict:
    """Write ``fp32_onnx`` quantized by NNCF to ``dest`` with ``float_nodes`` in float; with ``cache`` the
    NNCF graph (one statistics pass) is kept there and reused by later calls. Returns the record."""
    onnx = require("onnx")
    nncf = require("nncf")
    base_path = cache.with_name(f"{cache.name}-nncf.int8.onnx") if cache is not None else None
    if base_path is not None and base_path.is_file():
        base = onnx.load(str(base_path))
    else:
        import logging

        logging.getLogger("nncf").setLevel(logging.ERROR)
        try:
            spread = [frames[i] for i in prefix_spread(len(frames))]  # NNCF reads the first subset_size
            base = nncf.quantize(onnx.load(str(fp32_onnx)), nncf.Dataset(spread, lambda f: {"frame": f[None]}),
                                 preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=min(len(frames), SUBSET),
                                 ignored_scope=nncf.IgnoredScope(patterns=[DEPLOY_SCOPE], validate=False))
        except Exception as exc:
            raise ExportError(f"INT8 quantization by NNCF failed: {str(exc).splitlines()[0][:200]}") from exc
        if base_path is not None:
            onnx.save_model(base, str(base_path))
    model = keep_float(base, onnx.load(str(fp32_onnx)), float_nodes)
    with atomic_path(dest) as tmp:
        onnx.save_model(model, str(tmp))
    return {"target": "openvino", "calibration_frames": min(len(frames), SUBSET), "method": "nncf",
            "float_nodes": float_nodes,
            "tool": f"nncf {nncf.__version__}, {PRESET} preset", "activations": "int8 symmetric (NNCF)",
            "weights": "int8 symmetric per-channel (NNCF)", "weight_bits": 8}
