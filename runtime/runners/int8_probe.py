"""Whether this machine's ONNX Runtime INT8 convolution saturates with full-range weights.

x86 CPUs without VNNI (AVX2 only, e.g. AMD Zen 2) multiply uint8 activations by int8 weights with
``vpmaddubsw``, which adds pairs of products into int16 and clips them: with 8-bit weights a conv's sums
saturate and INT8 masks lose agreement (on a Zen 2 EPYC, a hand-built graph 98.5% where VNNI machines
give 99.9%; onnxruntime's quantization guide advises ``reduce_range`` there). Measured, not read from
the CPU flags: one QLinearConv whose exact result is known, run once per process.

The probe graph is stored serialized, so the runtime needs neither ``onnx`` nor torch; the export's
``unet_edge.export.int8.saturation.probe_model`` builds the same graph, and a test keeps the two equal.
"""

from __future__ import annotations

import base64
import functools
import sys
from collections.abc import Mapping

import numpy as np

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.lazy import require

CHANNELS = 8  # four int16 pairs: 4 x 2 x 255 x 127 overflows int16 in every pair
EXACT = 200  # y_scale puts the exact sum (8 x 255 x 127) on 200; a saturated one lands near 101
# x (1x8x2x2 uint8, all 255) * w (1x8x1x1 int8, all 127), every scale 1 but y's, zero points 0; opset 13.
PROBE_MODEL = base64.b64decode(
    "CAg61QEKLgoBeAoCeHMKAnh6CgF3CgJ3cwoCd3oKAnlzCgJ5ehIBeSILUUxpbmVhckNvbnYSBXByb2JlKgwQAUICeHNKBAAAgD8q"
    "CRACQgJ4ekoBACoXCAEICAgBCAEQA0IBd0oIf39/f39/f38qDBABQgJ3c0oEAACAPyoJEANCAnd6SgEAKgwQAUICeXNKBM3soUQq"
    "CRACQgJ5ekoBAFobCgF4EhYKFAgCEhAKAggBCgIICAoCCAIKAggCYhsKAXkSFgoUCAISEAoCCAEKAggBCgIIAgoCCAJCBAoAEA0=")

_warned: set[str] = set()


@functools.lru_cache(maxsize=1)
def int8_kernels_saturate() -> bool:
    """True where a uint8 x int8 conv on ONNX Runtime's CPU provider clips its pairwise sums."""
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(PROBE_MODEL, opts, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": np.full((1, CHANNELS, 2, 2), 255, np.uint8)})[0]
    return bool(abs(int(y.ravel()[0]) - EXACT) > 2)


def weight_bits(meta: ArtifactMeta) -> int | None:
    """The bits of an INT8 artifact's weights as its export recorded them (``int8.weight_bits``, which
    export writes from what it quantized with); an export from before that field said it only in
    words (``int8.weights``: "..., 7-bit (reduce_range ...)"). None for a float artifact."""
    if meta.precision != "int8":
        return None
    int8 = meta.raw.get("int8")
    int8 = int8 if isinstance(int8, Mapping) else {}
    bits = int8.get("weight_bits")
    if isinstance(bits, int) and not isinstance(bits, bool):
        return bits
    return 7 if "7-bit" in str(int8.get("weights", "")) else 8


def full_range_int8(meta: ArtifactMeta) -> bool:
    """True for an INT8 artifact whose weights use all 8 bits (exported where the kernels do not
    saturate, or by a tool that did not say)."""
    return weight_bits(meta) == 8


def warn_if_saturating(meta: ArtifactMeta) -> bool:
    """Print a one-line warning (once per artifact) where ``meta``'s 8-bit INT8 weights meet CPU kernels
    that saturate them; True where it applies. The masks are still computed, with lost accuracy."""
    if not full_range_int8(meta) or not int8_kernels_saturate():
        return False
    if str(meta.path) not in _warned:
        _warned.add(str(meta.path))
        print(f"warning: {meta.path.name} has 8-bit INT8 weights (its int8.weight_bits) and this CPU's INT8 "
              "kernels saturate them (x86 without VNNI): masks lose accuracy; re-export with --int8 on this "
              "machine, which records int8.weight_bits 7, or run the FP32 artifact", file=sys.stderr)
    return True
