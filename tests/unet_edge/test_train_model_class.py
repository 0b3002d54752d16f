"""``unet-edge train --model-class``: a user's own nn.Module trained with the project's recipe and
readers, its checkpoint exported, evaluated and benched without re-passing the class; and
architectures that another package registers through the ``unet_edge.models`` entry points."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from tests.cli_run import cli  # noqa: E402

# Logits at stride 2 in a dict (as torchvision's heads return them): training must resize them as export does.
CODE = '''import torch
from torch import nn


class TinyNet(nn.Module):
    input_normalization = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))  # read when registered as an architecture

    def __init__(self, num_classes=11, width=8, in_channels=3, bias=True, bn_momentum=0.1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, 2, 1), nn.BatchNorm2d(width, momentum=bn_momentum),
                                  nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1), nn.ReLU())
        self.head = nn.Conv2d(width, num_classes, 1, bias=bias)

    def forward(self, x):
        return {"out": self.head(self.body(x))}


class TinyArch(TinyNet):
    def forward(self, x):  # the registry's contract: NCHW logits at the input size
        return nn.functional.interpolate(super().forward(x)["out"], size=x.shape[-2:], mode="bilinear")
'''
FAST = ("--dataset", "folder", "--size", "32x48", "--epochs", "1", "--batch", "4", "--max-steps", "2",
        "--workers", "0")



def write_code(folder, module: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(CODE)
    return module


def forget(module: str, folder) -> None:
    """Drop an imported test module and its folder, as a fresh process would not have them."""
    sys.modules.pop(module, None)
    while str(folder) in sys.path:
        sys.path.remove(str(folder))
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from unet_edge.synth.writer import write_synth

    out = tmp_path_factory.mktemp("synth") / "data"
    write_synth(out, frames=24, size=(48, 64), seed=3, clip_frames=8, workers=1)
    return out


def test_train_a_model_class_then_export_eval_without_it(data, tmp_path, monkeypatch):
    code = tmp_path / "code"
    module = write_code(code, "usernet_a")
    run = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli("train", "--data", str(data), *FAST, "--out", str(run), "--model-class", f"{module}:TinyNet",
                       "--model-kwargs", '{"num_classes": 11, "width": 6}', "--python-path", "code",
                       "--input-norm", "unit")
    assert rc == 1 and "--rgb or --bgr" in err and "\n" not in err.strip()  # the colour order is never guessed
    rc, out, err = cli("train", "--data", str(data), *FAST, "--out", str(run), "--model-class", f"{module}:TinyNet",
                       "--model-kwargs", '{"num_classes": 11, "width": 6}', "--python-path", "code",
                       "--input-norm", "unit", "--rgb")
    assert rc == 0, err
    from unet_edge.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt.arch == f"foreign:{module}:TinyNet" and ckpt.model_options == {"num_classes": 11, "width": 6}
    assert ckpt.model_source["class"] == f"{module}:TinyNet" and str(code) in ckpt.model_source["python_path"]
    # the normalisation trained with is the recorded contract's, which export's graph bakes in
    assert ckpt.contract["norm"] == "unit" and ckpt.mean == (0, 0, 0) and ckpt.std == (1, 1, 1)
    assert ckpt.contract["classes"][0] == "Sky" and ckpt.contract["output_layout"] == "nchw"
    assert next(iter(ckpt.state_dict)).startswith("body.")  # the user's own keys: loadable into TinyNet

    forget(module, code)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rc, _, err = cli("export", str(run / "best.pt"), "--out", str(tmp_path / "exp"), "--verify-frames", "4",
                     "--no-build")
    assert rc == 0, err
    meta = json.loads((tmp_path / "exp" / "best.onnx.json").read_text())
    assert meta["model_source"]["class"] == f"{module}:TinyNet" and meta["contract"]["norm"] == "unit"
    from unet_edge.export.frame_sets import synthetic_frames
    from unet_edge.runtime.runners import open_runner
    from unet_edge.torch_runner import TorchRunner

    frames = synthetic_frames((32, 48), 3)[0]
    with TorchRunner(run / "best.pt") as ref, open_runner(tmp_path / "exp" / "best.onnx") as art:
        agree = np.mean([(ref.infer(f) == art.infer(f)).mean() for f in frames])
    assert agree >= 0.999
    rc, out, err = cli("eval", "--model", str(run / "best.pt"), "--data", str(data), "--dataset", "folder")
    assert rc == 0 and "mIoU" in out, err


def test_a_class_that_no_longer_imports_is_one_line(data, tmp_path, monkeypatch):
    code = tmp_path / "code"
    module = write_code(code, "usernet_b")
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli("train", "--data", str(data), *FAST, "--out", "run", "--model-class", f"{module}:TinyNet",
                     "--python-path", "code")
    assert rc == 0, err
    forget(module, code)
    code.rename(tmp_path / "moved")
    rc, _, err = cli("export", "run/best.pt", "--out", "exp", "--no-verify", "--no-build")
    assert rc == 1 and "was trained with --model-class usernet_b:TinyNet" in err and "--python-path" in err
    rc, _, err = cli("export", "run/best.pt", "--out", "exp", "--no-verify", "--no-build", "--python-path", "moved")
    assert rc == 0, err
    forget(module, tmp_path / "moved")


def test_a_head_without_a_bias_gets_the_logit_adjustment_at_its_output(data, tmp_path, monkeypatch):
    module = write_code(tmp_path, "usernet_e")
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli("train", "--data", str(data), *FAST, "--out", "run", "--model-class", f"{module}:TinyNet",
                       "--model-kwargs", '{"bias": false}')  # the recipe's logit adjustment 0.5
    assert rc == 0 and "logit adjustment 0.5" in out, err
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt.offsets_at_output and "head.bias" not in ckpt.state_dict
    shift = torch.tensor(ckpt.output_offsets)
    assert shift.abs().max() > 0.1
    body = model_from_checkpoint(ckpt).eval()
    x = torch.randn(1, 3, 32, 48)
    with torch.inference_mode():
        raw = torch.nn.functional.interpolate(body.model(x)["out"], size=(32, 48), mode="bilinear")
        torch.testing.assert_close(body(x) - raw, shift.view(1, -1, 1, 1).expand_as(raw), atol=1e-5, rtol=0)
    rc, _, err = cli("export", "run/best.pt", "--out", "exp", "--verify-frames", "4", "--no-build")
    assert rc == 0, err
    from unet_edge.export.frame_sets import synthetic_frames
    from unet_edge.runtime.runners import open_runner
    from unet_edge.torch_runner import TorchRunner

    frames = synthetic_frames((32, 48), 3)[0]
    with TorchRunner(tmp_path / "run" / "best.pt") as ref, open_runner(tmp_path / "exp" / "best.onnx") as art:
        assert np.mean([(ref.infer(f) == art.infer(f)).mean() for f in frames]) >= 0.999
    forget(module, tmp_path)


def test_slow_batchnorm_statistics_are_recomputed_before_validation(data, tmp_path, monkeypatch):
    module = write_code(tmp_path, "usernet_f")
    monkeypatch.chdir(tmp_path)
    cls = ("--model-class", f"{module}:TinyNet")
    rc, out, err = cli("train", "--data", str(data), *FAST, "--out", "a", *cls,
                       "--model-kwargs", '{"bn_momentum": 0.01}')
    assert rc == 0 and "BN statistics recomputed before validation" in out, err
    rc, out, err = cli("train", "--data", str(data), *FAST, "--out", "b", *cls)  # PyTorch's default momentum
    assert rc == 0 and "BN statistics" not in out, err
    forget(module, tmp_path)


def test_pretrained_weights_and_bad_options(data, tmp_path, monkeypatch):
    module = write_code(tmp_path, "usernet_c")
    monkeypatch.chdir(tmp_path)
    cls = ("--model-class", f"{module}:TinyNet")
    assert cli("train", "--data", str(data), *FAST, "--out", "a", *cls)[0] == 0
    rc, out, err = cli("train", "--data", str(data), *FAST, "--out", "b", *cls, "--pretrained-weights", "a/best.pt")
    assert rc == 0 and "weights initialised from a/best.pt" in out, err
    rc, _, err = cli("train", "--data", str(data), *FAST, "--out", "c", *cls, "--model-kwargs", '{"num_classes": 5}')
    assert rc == 1 and "outputs 5 classes but the dataset has 11" in err
    rc, _, err = cli("train", "--data", str(data), *FAST, "--out", "c", *cls, "--model-kwargs", '{"width": 4}',
                     "--pretrained-weights", "a/best.pt")
    assert rc == 1 and "do not fit" in err and "shape mismatches" in err
    assert "pass one of them" in cli("train", "--data", str(data), *FAST, "--arch", "unet", *cls)[2]
    assert "pass --model-class" in cli("train", "--data", str(data), *FAST, "--input-norm", "unit")[2]
    assert "--model-kwargs" in cli("train", "--data", str(data), *FAST, *cls, "--width", "8")[2]
    forget(module, tmp_path)


def test_an_architecture_from_the_entry_points(data, tmp_path, monkeypatch):
    """A real distribution on sys.path (a dist-info folder) that declares ``tiny-arch`` in the group."""
    from unet_edge import models

    module = write_code(tmp_path, "usernet_d")
    info = tmp_path / "usernet_d-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: usernet-d\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[unet_edge.models]\ntiny-arch = {module}:TinyArch\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "tiny-arch" in models.available()
    assert models.input_normalization("tiny-arch") == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert models.create("tiny-arch", num_classes=4)(torch.zeros(1, 3, 16, 16)).shape == (1, 4, 16, 16)
    rc, _, err = cli("train", "--data", str(data), *FAST, "--out", str(tmp_path / "run"), "--arch", "tiny-arch")
    assert rc == 0, err
    rc, _, err = cli("export", str(tmp_path / "run" / "best.pt"), "--no-verify", "--no-build")
    assert rc == 0, err
    models._REGISTRY.pop("tiny-arch")
    forget(module, tmp_path)
