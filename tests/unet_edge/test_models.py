import pytest
import torch

from unet_edge.core.errors import ModelError
from unet_edge.models import available, create


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_seed_unet_has_the_keras_parameter_count():
    assert n_params(create("unet", num_classes=23)) == 8_640_471


def test_registry_lists_the_edge_variant_with_batchnorm():
    assert {"unet", "unet-lite"} <= set(available())
    lite = create("unet-lite", num_classes=11)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in lite.modules())
    assert n_params(lite) < n_params(create("unet", num_classes=11)) / 3


@pytest.mark.parametrize("h,w", [(360, 480), (37, 50), (16, 16), (100, 33)])
def test_any_input_size_gives_a_mask_of_that_size(h, w):
    model = create("unet", num_classes=5, width=4).eval()
    with torch.inference_mode():
        assert model(torch.randn(2, 3, h, w)).shape == (2, 5, h, w)


def test_odd_inputs_are_padded_bottom_right_and_cropped_back():
    torch.manual_seed(0)
    model = create("unet", num_classes=3, width=4).eval()
    x = torch.randn(1, 3, 63, 50)
    with torch.inference_mode():
        out = model(x)
        manual = model(torch.nn.functional.pad(x, (0, 14, 0, 1)))[..., :63, :50]
    torch.testing.assert_close(out, manual)


def test_he_normal_initialisation_scale():
    model = create("unet", num_classes=3)
    conv = model.enc[2].convs[0][0]  # 64 -> 128, fan_in 576
    std = conv.weight.std().item()
    assert abs(std - (2 / 576) ** 0.5 * 0.88) < 0.01  # truncated at 2 sigma: 0.88 of the nominal std
    assert conv.bias.abs().max().item() == 0


def test_unknown_arch_and_bad_options_are_model_errors():
    with pytest.raises(ModelError, match="unknown architecture 'resnet'"):
        create("resnet", num_classes=3)
    with pytest.raises(ModelError, match="invalid options"):
        create("unet", num_classes=3, depth=7)
