"""What a model states of its own input scaling, read without a download; nothing stated is an error."""

import json

import pytest

from unet_edge.core.errors import ConfigError
from unet_edge.models.contract import NORM_PRESETS, ContractOptions, IOContract, contract_from_options
from unet_edge.models.preprocessing import declared, settle


def test_nothing_stated_is_one_line_naming_both_options():
    with pytest.raises(ConfigError) as err:
        settle(IOContract(), object(), None, "net.onnx")
    text = str(err.value)
    assert "\n" not in text and "--rgb or --bgr" in text and "--input-norm imagenet|unit|signed|none" in text
    given = contract_from_options(ContractOptions(rgb=False, input_norm="unit"))
    assert settle(given, object(), None, "net.onnx").origin["norm"] == "option"


def test_a_hugging_face_image_processor_config_beside_the_weights(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "rescale_factor": 1 / 255}))
    weights = tmp_path / "model.safetensors"
    logs = []
    c = settle(IOContract(), object(), weights, "model.safetensors", logs.append)
    assert c.color == "rgb" and c.mean == pytest.approx((127.5,) * 3) and c.std == pytest.approx((127.5,) * 3)
    assert c.origin["norm"] == c.origin["color"] == "preprocessor_config.json beside the weights"
    assert "input scaling from preprocessor_config.json" in logs[0]
    # an option given wins over the model's statement, key by key
    bgr = contract_from_options(ContractOptions(rgb=False))
    c = settle(bgr, object(), weights, "model.safetensors")
    assert c.color == "bgr" and c.origin["color"] == "option" and c.mean == pytest.approx((127.5,) * 3)


def test_timm_and_torchvision_and_smp_state_theirs():
    from unet_edge.models.torchvision_cpu import prepare

    prepare()  # timm imports torchvision, whose PyPI wheel needs this beside the CPU torch
    pytest.importorskip("timm")
    import timm

    model = timm.create_model("mobilenetv3_small_050", pretrained=False)
    changes, where = declared(model, None)
    assert changes["norm"] == "imagenet" and "timm's pretrained_cfg" in where
    pytest.importorskip("torchvision")
    lraspp = "torchvision.models.segmentation:lraspp_mobilenet_v3_large"
    changes, where = declared(None, None, (lraspp, {"weights": "COCO_WITH_VOC_LABELS_V1"}))
    assert changes["mean"] == NORM_PRESETS["imagenet"][0] and where == "torchvision's weights=COCO_WITH_VOC_LABELS_V1"
    assert declared(None, None, (lraspp, {"weights": None, "weights_backbone": None})) is None
    smp = pytest.importorskip("segmentation_models_pytorch")
    unet = smp.Unet(encoder_name="resnet18", encoder_weights=None, classes=3)
    assert declared(unet, None) is None  # weights not named: nothing stated
    unet._hub_mixin_config["encoder_weights"] = "advprop"  # as smp records a model built with named weights
    changes, where = declared(unet, None)
    assert changes["norm"] == "signed" and "advprop weights of resnet18" in where
