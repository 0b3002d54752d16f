"""The INT8 saturation probe in the runtime: an 8-bit-weight INT8 artifact on CPU kernels that clip
its sums warns once, in one line; a 7-bit one, a float one or exact kernels stay quiet. Torch-free."""

from __future__ import annotations

import numpy as np
import pytest

from unet_edge.core.artifact import ArtifactMeta, load_meta
from unet_edge.runtime.runners import int8_probe
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner


def _as_int8(model, reduce_range: bool | None) -> ArtifactMeta:
    """The tiny model's contract, relabelled as a CPU-flavour INT8 export (the graph stays float: the
    warning reads the sidecar, not the graph): its ``int8.weight_bits`` as export records it."""
    data = load_meta(model).to_dict()
    data["precision"] = "int8"
    data["int8"] = {"target": "cpu"} if reduce_range is None else {"target": "cpu",
                                                                   "weight_bits": 7 if reduce_range else 8}
    return ArtifactMeta.from_dict(data, model)


def test_the_probe_answers_from_a_real_session():
    """The probe runs its stored graph through ONNX Runtime's CPU provider: a bool, cached."""
    int8_probe.int8_kernels_saturate.cache_clear()
    first = int8_probe.int8_kernels_saturate()
    assert isinstance(first, bool) and int8_probe.int8_kernels_saturate() is first


@pytest.mark.parametrize("reduce_range, saturate, warns", [
    (False, True, True), (None, True, True),  # 8-bit weights (or an export from before the record)
    (True, True, False),  # exported here, with 7-bit weights
    (False, False, False),  # exact kernels (VNNI, AVX-512, ARM)
])
def test_an_8bit_int8_artifact_warns_once_where_kernels_saturate(model, monkeypatch, capsys, reduce_range, saturate,
                                                                 warns):
    monkeypatch.setattr(int8_probe, "int8_kernels_saturate", lambda: saturate)
    monkeypatch.setattr(int8_probe, "_warned", set())
    meta = _as_int8(model, reduce_range)
    frame = np.zeros((64, 96, 3), np.uint8)
    for _ in range(2):
        with OnnxRuntimeRunner(meta=meta) as runner:
            assert runner.int8_saturates is warns
            runner.infer(frame)  # still runs
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(lines) == int(warns)
    if warns:
        assert "8-bit INT8 weights" in lines[0] and "re-export with --int8" in lines[0]


def test_an_export_from_before_weight_bits_is_read_from_its_words(model):
    """Sidecars written before ``int8.weight_bits`` said the 7 bits only in ``int8.weights``."""
    data = load_meta(model).to_dict()
    data["precision"] = "int8"
    for words, bits in (("int8 symmetric per-channel, 7-bit (reduce_range: this CPU's INT8 kernels saturate 8-bit "
                         "weights)", 7), ("int8 symmetric per-channel", 8)):
        data["int8"] = {"target": "cpu", "weights": words}
        assert int8_probe.weight_bits(ArtifactMeta.from_dict(data, model)) == bits
    assert int8_probe.weight_bits(load_meta(model)) is None  # a float artifact


def test_float_artifacts_never_run_the_probe(model, monkeypatch):
    def fail() -> bool:
        raise AssertionError("the probe ran for a float artifact")

    monkeypatch.setattr(int8_probe, "int8_kernels_saturate", fail)
    with OnnxRuntimeRunner(model) as runner:
        assert runner.int8_saturates is False
