"""The internal covariate shift helpers do what the page says."""

import torch
from torch import nn

from snippets.experiments.ics import (NoisyBatchNorm1d, sigmoid_inputs,
                                      sigmoid_mlp)


def test_noisy_bn_is_bn_plus_a_fresh_affine_noise_each_step():
    noisy, plain = NoisyBatchNorm1d(5, seed=1), nn.BatchNorm1d(5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 5, generator=g) * 3 + 2
    a, b = noisy(x).detach(), noisy(x).detach()
    reference = plain(x).detach()
    for y in (a, b):
        # Each column is s * reference + m, with s in [0.5, 1.5] and m in
        # [-1, 1]: fit s and m, then check the fit is exact.
        s = y.std(0) / reference.std(0)
        m = y.mean(0) - s * reference.mean(0)
        torch.testing.assert_close(y, s * reference + m, atol=1e-5,
                                   rtol=1e-5)
        assert ((s >= 0.5) & (s <= 1.5)).all()
        assert ((m >= -1) & (m <= 1)).all()
    assert not torch.allclose(a, b)  # a new draw at every call


def test_sigmoid_inputs_leaves_the_model_as_it_was():
    model = sigmoid_mlp("bn", hidden=8).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = sigmoid_inputs(model, torch.rand(16, 1, 28, 28) * 5)
    assert len(inputs) == 3 and inputs[0].shape == (16, 8)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_training_view_of_bn_inputs_is_normalized():
    model = sigmoid_mlp("bn", hidden=8)
    with torch.no_grad():
        model[2].weight.fill_(2.0)
        model[2].bias.fill_(-1.0)
    first = sigmoid_inputs(model, torch.rand(64, 1, 28, 28))[0]
    torch.testing.assert_close(first.mean(0), torch.full((8,), -1.0),
                               atol=1e-5, rtol=0)
