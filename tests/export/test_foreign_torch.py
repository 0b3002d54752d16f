"""PyTorch models unet-edge did not write, exported through ``unet-edge export``: torchvision,
segmentation_models_pytorch and Hugging Face classes with random weights (nothing is downloaded),
a torch.export program and TorchScript files. The FP32 artifact's masks must equal the source
model's own argmax (logits resized bilinearly to the frame, as the upstream inference does); bad
inputs are one line and exit code 1."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
if importlib.util.find_spec("torchvision") is None:
    pytest.skip("the models extra is not installed", allow_module_level=True)

from unet_edge.cli import main  # noqa: E402
from unet_edge.models.torchvision_cpu import import_torchvision  # noqa: E402

tv = import_torchvision()  # PyPI's CUDA torchvision beside the CPU torch

SIZE = (64, 96)
IMAGENET = (np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375]))
TV_KW = {"weights": None, "weights_backbone": None, "num_classes": 11}
LRASPP = "torchvision.models.segmentation:lraspp_mobilenet_v3_large"
SEGFORMER = {"num_labels": 11, "depths": [1, 1, 1, 1], "hidden_sizes": [8, 16, 24, 32], "decoder_hidden_size": 32,
             "num_attention_heads": [1, 1, 1, 1]}
HF_FACTORY = '''from transformers import SegformerConfig, SegformerForSemanticSegmentation


def segformer(**kwargs):
    return SegformerForSemanticSegmentation(SegformerConfig(**kwargs))
'''


@pytest.fixture(scope="module")
def frames():
    from unet_edge.export.frame_sets import synthetic_frames

    return synthetic_frames(SIZE, 4)[0]


def cli(*args: str) -> tuple[int, str]:
    """``unet-edge ARGS`` in this process: (exit code, stderr's last line)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as exc:
        main(list(args))
    lines = err.getvalue().strip().splitlines()
    return exc.value.code, lines[-1] if lines else ""


def export(path, out, *options: str) -> dict:
    code, err = cli("export", str(path), "--size", f"{SIZE[0]}x{SIZE[1]}", "--out", str(out), "--verify-frames", "4",
                    "--no-build", *options)
    assert code == 0, err
    onnx = out / (path.stem + ".onnx")
    return {"onnx": onnx, "meta": json.loads(onnx.with_name(onnx.name + ".json").read_text())}


def onnx_masks(path, frames) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.stack([sess.run(None, {"frame": f[None]})[0][0] for f in frames])


def source_masks(model, frames, pick=lambda out: out, norm=IMAGENET, bgr=False) -> np.ndarray:
    """The source model as its own project runs it: RGB (or BGR), normalised, NCHW; logits resized to
    the frame bilinearly (align_corners=False), then argmax."""
    x = np.stack(frames).astype(np.float32)
    x = x if bgr else x[..., ::-1]
    mean, std = (norm[0][::-1], norm[1][::-1]) if bgr else norm
    x = torch.from_numpy(((x - mean) / std).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        out = pick(model(x))
        out = torch.nn.functional.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return out.argmax(1).numpy().astype(np.uint8)


def agree(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


@pytest.fixture(scope="module")
def lraspp(tmp_path_factory):
    torch.manual_seed(0)
    model = tv.models.segmentation.lraspp_mobilenet_v3_large(**TV_KW).eval()
    path = tmp_path_factory.mktemp("lraspp") / "lraspp.pth"
    torch.save({"model_state_dict": model.state_dict(), "epoch": 3}, path)
    return model, path


def test_torchvision_lraspp_state_dict(lraspp, frames, tmp_path):
    model, path = lraspp
    given = ("--model-class", LRASPP, "--model-kwargs", json.dumps(TV_KW), "--classes", "camvid")
    code, err = cli("export", str(path), "--out", str(tmp_path), "--no-verify", "--no-build", *given)
    assert code == 1 and "does not guess" in err and "--rgb or --bgr" in err and "--input-norm imagenet" in err
    art = export(path, tmp_path, *given, "--rgb", "--input-norm", "imagenet")
    assert agree(onnx_masks(art["onnx"], frames), source_masks(model, frames, lambda o: o["out"])) >= 0.999
    meta = art["meta"]
    assert meta["classes"][0] == "Sky" and meta["num_classes"] == 11
    assert meta["model_source"]["kind"] == "state_dict" and meta["model_source"]["class"] == LRASPP
    assert meta["model_source"]["kwargs"] == TV_KW
    assert meta["contract"]["norm"] == "imagenet" and meta["contract"]["color"] == "rgb"
    assert meta["contract"]["origin"]["norm"] == "option" and meta["contract"]["origin"]["color"] == "option"


def test_torchvision_deeplabv3_with_bgr_and_unit_scaling(frames, tmp_path):
    torch.manual_seed(1)
    model = tv.models.segmentation.deeplabv3_mobilenet_v3_large(**TV_KW).eval()
    path = tmp_path / "deeplab.safetensors"
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(path))
    art = export(path, tmp_path, "--model-class", "torchvision.models.segmentation:deeplabv3_mobilenet_v3_large",
                 "--model-kwargs", json.dumps(TV_KW), "--bgr", "--input-norm", "unit", "--output", "out")
    unit = (np.zeros(3), np.full(3, 255.0))
    assert agree(onnx_masks(art["onnx"], frames),
                 source_masks(model, frames, lambda o: o["out"], unit, bgr=True)) >= 0.999
    assert art["meta"]["contract"]["color"] == "bgr" and art["meta"]["classes"][0] == "class_0"


SMP = {"Unet": {"encoder_name": "resnet18", "encoder_depth": 3, "decoder_channels": [64, 32, 16]},
       "FPN": {"encoder_name": "tu-mobilenetv3_small_050"}}  # the second a timm encoder


@pytest.mark.parametrize("arch", ["Unet", "FPN"])
def test_segmentation_models_pytorch(arch, frames, tmp_path):
    smp = pytest.importorskip("segmentation_models_pytorch")
    kwargs = {**SMP[arch], "encoder_weights": None, "classes": 11}
    torch.manual_seed(2)
    model = getattr(smp, arch)(**kwargs).eval()
    path = tmp_path / f"smp_{arch}.pt"
    torch.save(model.state_dict(), path)
    # resnet18 without named weights states nothing; the timm encoder's pretrained_cfg states RGB ImageNet
    stated = ("--rgb", "--input-norm", "imagenet") if arch == "Unet" else ()
    art = export(path, tmp_path, "--model-class", f"segmentation_models_pytorch:{arch}", "--model-kwargs",
                 json.dumps(kwargs), "--classes", "camvid", "--multiple-of", "32", *stated)
    assert agree(onnx_masks(art["onnx"], frames), source_masks(model, frames)) >= 0.999
    origin = art["meta"]["contract"]["origin"]
    assert origin["norm"] == ("option" if stated else "timm's pretrained_cfg of mobilenetv3_small_050")


def test_huggingface_segformer_quarter_resolution_logits(frames, tmp_path):
    pytest.importorskip("transformers")
    (tmp_path / "hf_seg.py").write_text(HF_FACTORY)
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        from hf_seg import segformer
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(3)
    model = segformer(**SEGFORMER).eval()
    path = tmp_path / "segformer.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    art = export(path, tmp_path / "out", "--model-class", "hf_seg:segformer", "--python-path", str(tmp_path),
                 "--model-kwargs", json.dumps(SEGFORMER), "--classes", "camvid", "--rgb", "--input-norm", "imagenet")
    assert agree(onnx_masks(art["onnx"], frames), source_masks(model, frames, lambda o: o.logits)) >= 0.999
    assert art["meta"]["model_source"]["python_path"] == [str(tmp_path)]


def test_a_hugging_face_class_takes_its_config_as_kwargs():
    pytest.importorskip("transformers")
    from unet_edge.models.model_class import build_model

    model = build_model("transformers:SegformerForSemanticSegmentation", SEGFORMER)
    assert model.config.num_labels == 11 and list(model.config.hidden_sizes) == SEGFORMER["hidden_sizes"]


def test_torch_export_program_keeps_its_size(lraspp, frames, tmp_path):
    model, _ = lraspp
    path = tmp_path / "lraspp.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, *SIZE),)), str(path))
    code, err = cli("export", str(path), "--out", str(tmp_path), "--verify-frames", "4", "--no-build",
                    "--classes", "camvid", "--rgb", "--input-norm", "imagenet")  # no --size: the program's own
    assert code == 0, err
    meta = json.loads((tmp_path / "lraspp.onnx.json").read_text())
    assert meta["input"]["shape"] == [1, *SIZE, 3] and meta["model_source"]["kind"] == "torch.export"
    masks = onnx_masks(tmp_path / "lraspp.onnx", frames)
    assert agree(masks, source_masks(model, frames, lambda o: o["out"])) >= 0.999


@pytest.mark.parametrize("name", ["unet.ts", "unet_traced.pt"])
def test_torchscript(name, frames, tmp_path):
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(4)
    model = smp.Unet(**SMP["Unet"], encoder_weights=None, classes=11).eval()
    path = tmp_path / name
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, *SIZE)), str(path))
    art = export(path, tmp_path, "--classes", "camvid", "--rgb", "--input-norm", "imagenet")
    assert art["meta"]["model_source"]["kind"] == "torchscript"
    assert agree(onnx_masks(art["onnx"], frames), source_masks(model, frames)) >= 0.999


def test_pickled_module_only_with_trust_pickle(lraspp, frames, tmp_path):
    model, _ = lraspp
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    code, err = cli("export", str(path), "--size", "64x96", "--out", str(tmp_path))
    assert code == 1 and "pickled whole model" in err and "model.state_dict()" in err and "--trust-pickle" in err
    art = export(path, tmp_path, "--trust-pickle", "--classes", "camvid", "--rgb", "--input-norm", "imagenet")
    assert art["meta"]["model_source"]["kind"] == "pickle"
    assert agree(onnx_masks(art["onnx"], frames), source_masks(model, frames, lambda o: o["out"])) >= 0.999


def test_bad_inputs_are_one_line(lraspp, tmp_path):
    _, path = lraspp
    kw = json.dumps(TV_KW)
    base = ("export", str(path), "--size", "64x96", "--out", str(tmp_path), "--no-verify", "--no-build", "--rgb",
            "--input-norm", "imagenet")
    cases = [
        (("--model-class", "no_such_module:Net"), "cannot import 'no_such_module'"),
        (("--model-class", LRASPP, "--model-kwargs", "{num_classes: 11}"), "--model-kwargs is not JSON"),
        (("--model-class", "torchvision.models.segmentation:deeplabv3_mobilenet_v3_large", "--model-kwargs", kw),
         "the weights do not fit"),
        (("--model-class", LRASPP, "--model-kwargs", kw, "--classes", "cityscapes"),
         "outputs 11 classes but --classes gives 19"),
        ((), "a state dict holds weights only: pass --model-class"),
    ]
    for extra, expected in cases:
        code, err = cli(*base, *extra)
        assert code == 1 and expected in err, (extra, err)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00 not a model at all" * 10)
    code, err = cli("export", str(junk), "--out", str(tmp_path))
    assert code == 1 and "not a model file" in err


def test_class_tables_and_contract(tmp_path):
    from unet_edge.core.errors import ConfigError, DataError
    from unet_edge.data.classes import class_table
    from unet_edge.models.contract import ContractOptions, IOContract, contract_from_options

    assert class_table("cityscapes").num_classes == 19 and class_table("carla").num_classes == 23
    table = tmp_path / "classes.json"
    table.write_text(json.dumps(["road", {"name": "car", "color": [0, 0, 142]}]))
    info = class_table(str(table))
    assert info.names == ("road", "car") and info.palette[1] == (0, 0, 142)
    table.write_text(json.dumps([{"colour": [1, 2, 3]}]))
    with pytest.raises(DataError, match="class 0"):
        class_table(str(table))
    c = contract_from_options(ContractOptions(rgb=False, input_norm="signed", std="1,2,3", layout="nhwc",
                                              classes="camvid"))
    assert c.mean == (127.5,) * 3 and c.std == (1, 2, 3) and c.norm is None and c.num_classes == 11
    assert IOContract.from_json(json.loads(json.dumps(c.to_json()))) == c
    with pytest.raises(ConfigError, match="--input-norm"):
        contract_from_options(ContractOptions(input_norm="zscore"))
    with pytest.raises(ConfigError, match="--mean"):
        contract_from_options(ContractOptions(mean="1,2"))
