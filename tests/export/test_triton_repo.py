"""Triton model repositories, each config.pbtxt parsed by Triton's own ModelConfig protobuf schema."""

from __future__ import annotations

import pytest

from unet_edge.core.artifact import load_meta
from unet_edge.export.triton_repo import add_model, triton_config

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient is not installed: pip install 'unet-edge[serve]'")
text_format = pytest.importorskip("google.protobuf.text_format")


def parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def test_every_exported_precision_becomes_a_parseable_model(exported, tmp_path):
    out, result, _ = exported
    repo = tmp_path / "repo"
    folders = [add_model(repo, out / name) for name in ("best.onnx", "best.fp16.onnx", "best.int8.onnx")]
    assert [f.name for f in folders] == ["best_fp32", "best_fp16", "best_int8"]
    for folder in folders:
        cfg = parse((folder / "config.pbtxt").read_text())
        assert cfg.name == folder.name and cfg.backend == "onnxruntime"
        assert (folder / "1" / "model.onnx").is_file() and load_meta(folder / "1" / "model.onnx").precision
        assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")  # a fixed batch-1 export
        (inp,) = cfg.input
        assert inp.name == "frame" and inp.data_type == model_config_pb2.TYPE_UINT8 and list(inp.dims) == [1, 64, 96, 3]
        assert [o.name for o in cfg.output] == ["mask"] and list(cfg.output[0].dims) == [1, 64, 96]
        assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU


def test_dynamic_exports_batch_and_engines_use_the_tensorrt_platform(trained_run, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    export_model(trained_run / "best.pt", ExportOptions(out=tmp_path, dynamic=True, confidence=True,
                                                             verify=False), lambda _m: None)
    meta = load_meta(tmp_path / "best.onnx")
    cfg = parse(triton_config(meta, "m", "onnxruntime", max_batch=6))
    assert cfg.max_batch_size == 6 and cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [-1, -1, 3]
    assert [(o.name, list(o.dims)) for o in cfg.output] == [("mask", [-1, -1]), ("confidence", [-1, -1])]
    plan = parse(triton_config(meta, "m_plan", "tensorrt", max_batch=4, kind="KIND_GPU"))
    assert plan.platform == "tensorrt_plan" and plan.default_model_filename == "model.plan"
    assert plan.max_batch_size == 4 and plan.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU


def test_a_typo_cannot_pass_the_schema():
    with pytest.raises(text_format.ParseError):
        parse('name: "m"\nmax_batch_sise: 4\n')
