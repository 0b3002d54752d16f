"""``--int8-target openvino``: NNCF quantizes, OpenVINO verifies, the gate judges; float layers are
made by surgery on the one NNCF graph; TensorRT refuses the flavour; a missing NNCF is one line."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from unet_edge.core.artifact import load_meta
from unet_edge.core.errors import ConfigError, Int8Rejected, MissingDependencyError

pytest.importorskip("nncf", reason="the nncf extra: pip install 'unet-edge[nncf]'")
pytest.importorskip("openvino", reason="the openvino extra")
pytestmark = pytest.mark.slow


def test_openvino_int8_is_made_by_nncf_verified_by_openvino_and_kept_from_tensorrt(trained_run, synth_dir, tmp_path):
    import onnx

    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.report import read_report
    from unet_edge.export.tensorrt.from_export import check_int8_flavour, siblings

    said: list[str] = []
    opts = ExportOptions(int8=True, int8_target="openvino", calib=str(synth_dir / "images"), calib_frames=32,
                         out=tmp_path, verify_frames=6)
    try:
        export_model(trained_run / "best.pt", opts, said.append)
        path = tmp_path / "best.int8-openvino.onnx"
    except Int8Rejected as miss:  # a tiny model may miss the gate: judged all the same
        path = miss.path
    meta = load_meta(path).raw
    assert meta["int8"]["target"] == "openvino" and "NNCF" in meta["int8"]["activations"]
    report = read_report(path)
    assert report["verification"]["artifact"] == path.name  # the gate ran it (by OpenVINO: verify.provider)
    assert report["int8"]["tool"].startswith("nncf ") and report["int8"]["speed"]["speedup"] > 0
    assert "OpenVINO" in report["int8"]["speed"]["device"]
    assert report["stage_seconds"]["int8"] > 0 and any(line.startswith("stage times: ") for line in said)
    g = onnx.load(str(path)).graph
    assert sum(n.op_type == "QuantizeLinear" for n in g.node) > 5
    producer = {o: n.op_type for n in g.node for o in n.output}
    for name in report["int8"]["float_nodes"]:  # surgery: float inputs, FP32 weights
        node = next(n for n in g.node if n.name == name)
        assert all(producer.get(i) != "DequantizeLinear" for i in node.input), name
    assert not any(n.name.startswith("/deploy/") and n.op_type == "QuantizeLinear" for n in g.node)
    if path.name == "best.int8-openvino.onnx":
        with pytest.raises(ConfigError, match="quantized for OpenVINO"):
            check_int8_flavour(siblings(path), "int8")


def test_keep_float_restores_the_fp32_inputs_and_prunes_the_pairs(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from unet_edge.export.int8.nncf_quant import keep_float

    w = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    fp32 = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])], [w]))
    consts = [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
              numpy_helper.from_array(np.array(0, np.int8), "z"),
              numpy_helper.from_array(np.full((2, 2, 1, 1), 10, np.int8), "wq")]
    qdq = helper.make_model(helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
         helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq"),
         helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["wd"], name="wdq"),
         helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])], consts))
    out = keep_float(qdq, fp32, ["conv"])
    assert [(n.op_type, list(n.input)) for n in out.graph.node] == [("Conv", ["x", "w"])]
    assert {t.name for t in out.graph.initializer} == {"w"}
    onnx.checker.check_model(out)


def test_missing_nncf_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    from unet_edge.export.int8.nncf_quant import quantize_openvino

    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf raises ImportError
    with pytest.raises(MissingDependencyError) as err:
        quantize_openvino(tmp_path / "m.onnx", tmp_path / "q.onnx", [np.zeros((4, 4, 3), np.uint8)], [])
    assert "nncf" in str(err.value) and "\n" not in str(err.value)


def test_calib_method_is_refused_for_the_openvino_flavour(trained_run, synth_dir, tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model

    opts = ExportOptions(int8=True, int8_target="openvino", calib=str(synth_dir / "images"), calib_method="entropy",
                         out=tmp_path, verify=False)
    with pytest.raises(ConfigError, match="calibrates with NNCF"):
        export_model(trained_run / "best.pt", opts, lambda _m: None)
