"""BN statistics recomputed before validation, for models whose BN layers average slowly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from unet_edge.training.bn_stats import KEEP, BatchNormRefresh, slow_batchnorm  # noqa: E402


def net(momentum: float | None) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU())


def test_only_slow_batchnorm_needs_it():
    assert slow_batchnorm(net(0.01)) and slow_batchnorm(net(None))
    assert not slow_batchnorm(net(0.1)) and not slow_batchnorm(nn.Conv2d(3, 4, 1))
    assert not BatchNormRefresh(net(0.1)).needed


def test_the_eval_model_then_normalises_as_the_training_batches_did():
    model = net(0.01)
    refresh = BatchNormRefresh(model)
    batches = [torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8) for _ in range(KEEP + 3)]
    for b in batches:
        refresh.keep(b)
    assert len(refresh.batches) == KEEP  # the last ones only

    def prepare(b):
        return b.float() / 32.0 + 3.0  # far from the running statistics' initial 0 and 1

    with torch.no_grad():
        stale = model.eval()(prepare(batches[-1]))
        refresh.apply(model, prepare)
        x = torch.cat([prepare(b) for b in batches[3:]])
        conv = model[0](x)
        torch.testing.assert_close(model[1].running_mean, conv.mean((0, 2, 3)), atol=1e-4, rtol=1e-4)
        fresh = model.eval()(prepare(batches[-1]))
        batch_stats = model.train()(prepare(batches[-1]))
    assert (fresh - batch_stats).abs().mean() < 0.2 * (stale - batch_stats).abs().mean()
