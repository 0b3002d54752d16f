"""One ``.onnx`` is enough to run: without a sidecar the contract comes from its metadata_props."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from unet_edge.core.artifact import load_meta, sidecar_path
from unet_edge.core.errors import ArtifactError
from unet_edge.runtime.runners import open_runner

from .tiny_model import tiny_model

pytest.importorskip("onnx")  # to build the tiny model; the runtime itself never imports it


def test_a_model_whose_sidecar_was_deleted_still_runs(tmp_path):
    paired = tiny_model(tmp_path / "paired.onnx")
    lone = tiny_model(tmp_path / "lone.onnx")
    sidecar_path(lone).unlink()
    a, b = load_meta(paired), load_meta(lone)
    assert (b.classes, b.palette, b.ignore_index, b.input, b.outputs) == (a.classes, a.palette, a.ignore_index,
                                                                          a.input, a.outputs)
    frame = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    with open_runner(paired) as r1, open_runner(lone) as r2:
        assert np.array_equal(r1.infer(frame), r2.infer(frame))


def test_reading_the_embedded_contract_needs_no_onnx_package(tmp_path):
    lone = tiny_model(tmp_path / "lone.onnx")
    sidecar_path(lone).unlink()
    code = ("import sys; from unet_edge.core.artifact import load_meta; "
            f"assert load_meta({str(lone)!r}).precision == 'fp32'; assert 'onnx' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_sidecar_or_metadata_the_error_names_the_file(tmp_path):
    bare = tiny_model(tmp_path / "bare.onnx", embed=False)
    sidecar_path(bare).unlink()
    with pytest.raises(ArtifactError, match="bare.onnx.json: metadata sidecar missing and bare.onnx carries no"):
        load_meta(bare)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"hello, not a protobuf")
    with pytest.raises(ArtifactError, match="junk.onnx: no sidecar beside it and not a readable ONNX file"):
        load_meta(junk)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 64)
    with pytest.raises(ArtifactError, match="m.engine.json: metadata sidecar missing; an engine carries no"):
        load_meta(engine)
