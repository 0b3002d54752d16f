"""Foreign ONNX graphs (torch.onnx.export of small modules, and one built by hand at another opset)
wrapped into the deploy graph by graph surgery: their masks equal the source graph's argmax, after
the same bilinear resize, computed here with ONNX Runtime on the source graph and numpy/cv2."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from torch import nn

from unet_edge.core.errors import UnetEdgeError
from unet_edge.export import deploy_graph as fg
from unet_edge.export import onnx_body as fo
from unet_edge.export.frame_sets import synthetic_frames
from unet_edge.models.contract import ContractOptions, IOContract, contract_from_options

from .foreign_graphs import CLASSES, SIZE, Ids, Net, Nhwc, hand_graph, torch_graph


def reference(path, frame: np.ndarray, c: IOContract, layout: str = "nchw", pad: tuple[int, int] = (0, 0)):
    """The source graph's class map of a BGR frame, computed outside the wrapper (``pad``: zeros added
    below and right after normalising, cropped off the resized logits)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rgb = frame[..., ::-1] if c.color == "rgb" else frame
    mean, std = np.array(c.mean), np.array(c.std)
    if c.color == "bgr":
        mean, std = mean[::-1], std[::-1]
    x = np.pad(((rgb.astype(np.float32) - mean) / std).astype(np.float32), ((0, pad[0]), (0, pad[1]), (0, 0)))[None]
    out = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2) if layout == "nchw" else x})[0][0]
    h, w = frame.shape[:2]
    if out.ndim == 2:  # class ids
        return cv2.resize(out.astype(np.uint8), (w + pad[1], h + pad[0]), interpolation=cv2.INTER_NEAREST)[:h, :w]
    hwc = out.transpose(1, 2, 0) if layout == "nchw" else out
    hwc = cv2.resize(hwc, (w + pad[1], h + pad[0]), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return hwc.argmax(-1).astype(np.uint8)


def wrapped(src_path, c: IOContract, size=None, **kw) -> ort.InferenceSession:
    src = fo.inspect(fo.load(src_path), c, size, kw.get("dynamic", False))
    model = fg.deploy_graph(src, 17, **kw)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(SIZE, 4)[0]


CAMVID = contract_from_options(ContractOptions(rgb=True, input_norm="imagenet", classes="camvid"))

CASES = {
    "nchw": (lambda p: torch_graph(p, Net()), CAMVID, "nchw"),
    "stride4": (lambda p: torch_graph(p, Net(stride=4, seed=1)), CAMVID, "nchw"),
    "nhwc-bgr-unit": (lambda p: torch_graph(p, Nhwc(seed=2), (1, *SIZE, 3)),
                      contract_from_options(ContractOptions(classes="camvid", rgb=False, input_norm="unit")), "nhwc"),
    "ids": (lambda p: torch_graph(p, Ids(stride=2, seed=4)), CAMVID, "nchw"),
    "hand-opset13": (hand_graph, contract_from_options(ContractOptions(classes="camvid", input_norm="signed")), "nchw"),
}


@pytest.mark.parametrize("case", CASES)
def test_wrapped_masks_equal_the_source_argmax(tmp_path, frames, case):
    make, contract, layout = CASES[case]
    path = make(tmp_path / "src.onnx")
    sess = wrapped(path, contract, SIZE if case == "hand-opset13" else None)
    (inp,) = sess.get_inputs()
    assert (inp.name, inp.type, inp.shape) == ("frame", "tensor(uint8)", [1, *SIZE, 3])
    assert [(o.name, o.type) for o in sess.get_outputs()] == [("mask", "tensor(uint8)")]
    for f in frames:
        (mask,) = sess.run(None, {"frame": f[None]})
        assert mask.shape == (1, *SIZE)
        assert np.mean(mask[0] == reference(path, f, contract, layout)) >= 0.999


def test_confidence_output_matches_softmax(tmp_path, frames):
    path = torch_graph(tmp_path / "src.onnx", Net(stride=4))
    sess = wrapped(path, CAMVID, confidence=True)
    assert [o.name for o in sess.get_outputs()] == ["mask", "confidence"]
    logits_sess = wrapped(path, CAMVID, logits=True)
    mask, conf = sess.run(None, {"frame": frames[0][None]})
    (lg,) = logits_sess.run(None, {"frame": frames[0][None]})
    e = np.exp(lg[0] - lg[0].max(0))
    expect = np.floor(255 / e.sum(0) + 0.5)
    assert np.abs(conf[0].astype(int) - expect).max() <= 1
    assert np.array_equal(mask[0], lg[0].argmax(0))


def test_dynamic_graph_takes_any_multiple(tmp_path, frames):
    path = torch_graph(tmp_path / "src.onnx", Net(stride=4), dynamic=True)
    c = contract_from_options(ContractOptions(classes="camvid", multiple_of=32))
    sess = wrapped(path, c, (60, 90), dynamic=True)
    assert sess.get_inputs()[0].shape == ["N", "H", "W", 3]
    for h, w in ((64, 96), (96, 128)):
        f = cv2.resize(frames[1], (w, h))
        (mask,) = sess.run(None, {"frame": np.stack([f, f])})
        assert mask.shape == (2, h, w)
        assert np.mean(mask[1] == reference(path, f, c)) >= 0.999


def test_a_size_off_the_multiple_is_padded_and_cropped_back(tmp_path, frames):
    path = torch_graph(tmp_path / "src.onnx", Net(stride=4), dynamic=True)
    c = contract_from_options(ContractOptions(classes="camvid", multiple_of=32))
    sess = wrapped(path, c, (60, 90))
    assert sess.get_inputs()[0].shape == [1, 60, 90, 3]
    f = cv2.resize(frames[3], (90, 60))
    (mask,) = sess.run(None, {"frame": f[None]})
    assert mask.shape == (1, 60, 90)
    assert np.mean(mask[0] == reference(path, f, c, pad=(4, 6))) >= 0.999


def test_without_classes_the_count_comes_from_the_graph(tmp_path):
    src = fo.inspect(fo.load(torch_graph(tmp_path / "src.onnx", Net(classes=5))), IOContract(), None)
    assert src.contract.classes == tuple(f"class_{i}" for i in range(5)) and len(src.contract.palette) == 5
    with pytest.raises(UnetEdgeError, match="class ids needs --classes"):
        fo.inspect(fo.load(torch_graph(tmp_path / "ids.onnx", Ids())), IOContract(), None)


def test_node_names_give_layer_names(tmp_path):
    from unet_edge.export.naming import module_path

    c = contract_from_options(ContractOptions(classes="camvid"))
    torch_src = fo.inspect(fo.load(torch_graph(tmp_path / "t.onnx", Net())), c, None)
    hand_src = fo.inspect(fo.load(hand_graph(tmp_path / "h.onnx")), c, SIZE)
    for src, expect in ((torch_src, ["stem", "head"]), (hand_src, ["Conv_0", "Conv_2"])):
        model = fg.deploy_graph(src, 17)
        convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
        assert [module_path(n) for n in convs] == expect
        assert len({n.name for n in model.graph.node}) == len(model.graph.node)


def two_inputs(path):
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def flat_output(path):
    torch_graph(path, nn.Sequential(nn.Conv2d(3, CLASSES, 1), nn.Flatten()))
    return path


def three_d_input(path):
    torch_graph(path, nn.Conv1d(3, CLASSES, 1), (1, 3, 64))
    return path


BAD = {
    "two inputs": (two_inputs, "has 2 inputs (a, b)"),
    "no 4-D output": (flat_output, "has no 4-D output"),
    "wrong class count": (lambda p: torch_graph(p, Net(classes=5)), "outputs 5 classes but --classes gives 11"),
    "3-D input": (three_d_input, "has 3 dimensions: expected a 4-D image"),
}
OTHER_SIZE = "fixes its input height at 64, not 96"


@pytest.mark.parametrize("case", [*BAD, "other --size"])
def test_bad_graphs_are_one_line_errors(tmp_path, case):
    make, says = BAD.get(case, (lambda p: torch_graph(p, Net()), OTHER_SIZE))
    path = make(tmp_path / "bad.onnx")
    with pytest.raises(UnetEdgeError) as err:
        fg.deploy_graph(fo.inspect(fo.load(path), CAMVID, (96, 128) if says == OTHER_SIZE else None), 17)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_export_writes_self_describing_artifacts_that_stream(tmp_path, frames):
    from unet_edge.core.artifact import load_meta
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.models.foreign import ForeignSpec
    from unet_edge.runtime import Segmenter

    path = torch_graph(tmp_path / "segformer_like.onnx", Net(stride=4, seed=5))
    result = export_model(path, ExportOptions(fp16=True, confidence=True, out=tmp_path / "out", verify_frames=6),
                          lambda _m: None, spec=ForeignSpec(contract=CAMVID))
    assert [r["precision"] for r in result.verification if r["passed"]] == ["fp32", "fp16"]
    fp32 = tmp_path / "out" / "segformer_like.onnx"
    meta = load_meta(fp32)
    assert meta.classes[0] == "Sky" and [o.name for o in meta.outputs] == ["mask", "confidence"]
    assert meta.raw["model_source"]["kind"] == "onnx" and meta.raw["contract"]["norm"] == "imagenet"
    assert meta.raw["model_source"]["output_shape"] == [1, CLASSES, 16, 24]
    with Segmenter(fp32) as seg:
        assert np.mean(seg(frames[2]) == reference(path, frames[2], CAMVID)) >= 0.999
        streamed = list(seg.stream(f"synth://?size={SIZE[0]}x{SIZE[1]}&frames=5", max_frames=5))
    assert len(streamed) == 5 and streamed[-1].mask.shape == SIZE


def test_export_beside_the_source_keeps_it_and_errors_name_the_file(tmp_path):
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.graph_reference import is_foreign_onnx
    from unet_edge.models.foreign import ForeignSpec

    path = torch_graph(tmp_path / "net.onnx", Net())
    assert is_foreign_onnx(path)
    result = export_model(path, ExportOptions(verify_frames=2), lambda _m: None, spec=ForeignSpec(contract=CAMVID))
    assert result.artifacts == [tmp_path / "net.deploy.onnx"] and is_foreign_onnx(path)
    assert not is_foreign_onnx(tmp_path / "net.deploy.onnx")
    with pytest.raises(UnetEdgeError, match=r"^two\.onnx has 2 inputs"):
        export_model(two_inputs(tmp_path / "two.onnx"), ExportOptions(), lambda _m: None,
                     spec=ForeignSpec(contract=CAMVID))


def test_a_graph_with_external_weights_gives_one_self_contained_artifact(tmp_path, frames):
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.models.foreign import ForeignSpec

    src = tmp_path / "src"
    src.mkdir()
    model = onnx.load(str(torch_graph(tmp_path / "plain.onnx", Net(seed=4))))
    onnx.save_model(model, str(src / "ext.onnx"), save_as_external_data=True, location="ext.onnx.data",
                    size_threshold=0)  # as large exporters write them: weights in a file beside the graph
    result = export_model(src / "ext.onnx", ExportOptions(out=tmp_path / "out", verify_frames=4), lambda _m: None,
                          spec=ForeignSpec(contract=CAMVID))
    (art,) = map(str, result.artifacts)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in onnx.load(art, load_external_data=False)
                   .graph.initializer)
    sess = ort.InferenceSession(art, providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(str(tmp_path / "plain.onnx"), providers=["CPUExecutionProvider"])
    for f in frames[:2]:
        x = ((f[..., ::-1].astype(np.float32) - CAMVID.mean) / CAMVID.std).transpose(2, 0, 1)[None]
        want = ref.run(None, {"image": x.astype(np.float32)})[0].argmax(1)
        assert np.mean(sess.run(None, {"frame": f[None]})[0] == want) >= 0.999


def test_cli_exports_a_foreign_graph_and_runs_it(tmp_path, capsys):
    from unet_edge.cli import main

    path = torch_graph(tmp_path / "keras_like.onnx", Nhwc(seed=6), (1, *SIZE, 3))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        main(["export", str(path), "--classes", "camvid", "--bgr", "--input-norm", "unit", "--out", str(out),
              "--verify-frames", "2"])
    assert done.value.code == 0, capsys.readouterr().err
    assert "keras_like.onnx | fp32 | agreement | 100.000%" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["run", "--model", str(out / "keras_like.onnx"), "--source", f"synth://?size={SIZE[0]}x{SIZE[1]}",
              "--max-frames", "3", "--provider", "cpu"])
    assert done.value.code == 0, capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["export", str(two_inputs(tmp_path / "two.onnx")), "--classes", "camvid", "--rgb", "--input-norm",
              "unit"])
    err = capsys.readouterr().err
    assert done.value.code == 1 and err.startswith("unet-edge: error: two.onnx has 2 inputs") and err.count("\n") == 1


def test_one_sidecar_builder_and_simplify_for_every_model_form(tmp_path, model):
    """A checkpoint's export and an ONNX graph's have the same sidecar keys; --simplify applies to a graph
    too (simplified before it is wrapped), and the simplified artifact still agrees with the graph."""
    import json

    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.models.foreign import ForeignSpec

    path = torch_graph(tmp_path / "net.onnx", Net(seed=3))
    result = export_model(path, ExportOptions(simplify=True, out=tmp_path / "out", verify_frames=4), lambda _m: None,
                          spec=ForeignSpec(contract=CAMVID))
    assert result.verification[0]["passed"] and result.reference == "net.onnx in ONNX Runtime"
    verified = {"openvino_bf16"}  # a record of the gate's bf16 check, where a gate ran (not in ``model``'s)
    graph_keys = set(json.loads(result.artifacts[0].with_name("net.onnx.json").read_text())) - verified
    checkpoint_keys = set(json.loads(model.with_name(model.name + ".json").read_text())) - verified
    assert graph_keys == checkpoint_keys and {"model_source", "contract"} <= graph_keys


class _SoftmaxNhwc(Nhwc):
    """Keras style, ending in a softmax over the classes (the last axis) as most Keras U-Nets do."""

    def forward(self, x):
        return super().forward(x).softmax(-1)


def test_a_graph_ending_in_softmax_is_read_as_probabilities(tmp_path, frames):
    import torch

    path = torch_graph(tmp_path / "soft.onnx", _SoftmaxNhwc(seed=7), (1, *SIZE, 3))
    c = contract_from_options(ContractOptions(rgb=True, input_norm="unit", classes="camvid"))
    src = fo.inspect(fo.load(path), c, None)
    assert src.probabilities and src.describe()["probabilities"]
    sess = wrapped(path, c, confidence=True)
    plain = fo.inspect(fo.load(torch_graph(tmp_path / "logits.onnx", Nhwc(seed=7), (1, *SIZE, 3))), c, None)
    assert not plain.probabilities
    for f in frames:
        mask, conf = sess.run(None, {"frame": f[None]})
        x = torch.from_numpy(f[None, ..., ::-1].astype(np.float32) / 255.0)
        with torch.inference_mode():
            probs = _SoftmaxNhwc(seed=7)(x)[0].numpy()  # at the model's own size: SIZE, no resize
        assert (mask[0] == probs.argmax(-1)).mean() >= 0.999
        # the maximum probability itself, not a softmax of the probabilities (which would sit near 1/11)
        want = np.floor(255 * probs.max(-1) + 0.5)
        assert np.abs(conf[0].astype(int) - want).max() <= 1
