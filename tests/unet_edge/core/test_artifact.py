"""The artifact contract: typed fields read once, versioned, unknown fields kept, bad ones one line."""

from __future__ import annotations

import json
import re

import pytest

from unet_edge.core.artifact import MAJOR, ArtifactMeta, load_meta, sidecar_path, write_meta
from unet_edge.core.errors import ArtifactError


def _data(**over):
    data = {"classes": ["sky", "road"], "palette": [[128, 128, 128], [128, 64, 128]], "precision": "fp16",
            "train_input_size": [64, 96], "ignore_index": 2,
            "input": {"name": "frame", "shape": ["N", "H", "W", 3], "dtype": "uint8", "layout": "NHWC",
                      "color": "BGR", "multiple_of": 32},
            "outputs": [{"name": "mask", "shape": ["N", "H", "W"], "dtype": "uint8", "semantics": "class_ids"}]}
    data.update(over)
    return data


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not really onnx, the contract does not care")
    return path


def test_typed_fields_round_trip(artifact):
    write_meta(artifact, _data(int8={"target": "cpu"}))
    meta = load_meta(artifact)
    assert meta.classes == ("sky", "road") and meta.palette[1] == (128, 64, 128)
    assert meta.input.multiple_of == 32 and meta.input_size is None and meta.batch_dynamic
    assert meta.train_input_size == (64, 96) and meta.ignore_index == 2
    assert meta.precision == "fp16" and meta.int8_target == "cpu" and meta.engine is None
    assert [o.name for o in meta.outputs] == ["mask"] and not meta.outputs_logits
    side = json.loads(sidecar_path(artifact).read_text())
    assert (side["version"], side["version_minor"]) == meta.version == (MAJOR, 1)


def test_fields_of_a_later_minor_version_are_kept(artifact):
    write_meta(artifact, _data(float_layers=["enc.0"], op_types=["Conv", "Resize"]))
    side = sidecar_path(artifact)
    raw = json.loads(side.read_text())
    raw["version_minor"] = 7  # written by a later 1.x: still read
    side.write_text(json.dumps(raw))
    meta = load_meta(artifact)
    assert meta.version == (MAJOR, 7)
    assert meta.to_dict()["float_layers"] == ["enc.0"] and meta.to_dict()["op_types"] == ["Conv", "Resize"]


def test_a_newer_major_version_is_refused_naming_who_wrote_it(artifact):
    write_meta(artifact, _data())
    side = sidecar_path(artifact)
    raw = json.loads(side.read_text())
    raw.update(version=MAJOR + 1, version_minor=0, versions={"unet-edge": "9.0.0"})
    side.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=rf"format v{MAJOR + 1}\.0 was written by unet-edge 9\.0\.0"):
        load_meta(artifact)


@pytest.mark.parametrize("change,expect", [
    ({"train_input_size": None}, "malformed sidecar field"),
    ({"precision": "int4"}, "precision 'int4'"),
    ({"palette": [[1, 2, 3]]}, "palette does not give an RGB colour to every class"),
    ({"input": {"name": "frame", "shape": [1, 64, 96], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                "multiple_of": 1}}, "is not NxHxWx3"),
    ({"int8": {"target": "gpu"}}, "int8 target 'gpu'"),
])
def test_invalid_fields_are_one_line_errors(artifact, change, expect):
    with pytest.raises(ArtifactError, match=expect):
        write_meta(artifact, _data(**change))  # never written...
    data = {**_data(**change), "format": "unet-edge/artifact", "version": 1, "version_minor": 0}
    sidecar_path(artifact).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=expect):
        load_meta(artifact, check_hash=False)  # ...and never read


ENGINE = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "source_onnx": "m.onnx",
          "rebuild": "unet-edge build m.onnx --precision fp16", "l4t": None, "dla_core": None}


@pytest.mark.parametrize("where,key,name", [
    ((), "train_input_size", "train_input_size"), ((), "ignore_index", "ignore_index"), ((), "outputs", "outputs"),
    (("input",), "multiple_of", "input.multiple_of"), (("input",), "color", "input.color"),
    (("outputs", 0), "semantics", "outputs[0].semantics"),
    (("engine",), "gpu", "engine.gpu"), (("engine",), "source_onnx", "engine.source_onnx"),
    (("engine",), "l4t", "engine.l4t"),
])
def test_a_missing_field_is_named_not_defaulted(artifact, where, key, name):
    data = {**_data(engine=dict(ENGINE)), "format": "unet-edge/artifact", "version": 1, "version_minor": 0}
    ArtifactMeta.from_dict(data, artifact)  # complete: reads
    holder = data
    for step in where:
        holder = holder[step]
    del holder[key]
    with pytest.raises(ArtifactError, match=rf"m\.onnx\.json: sidecar lacks {re.escape(name)};"):
        ArtifactMeta.from_dict(data, artifact)
