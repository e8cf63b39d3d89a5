"""The internal covariate shift helpers do what the page says, and the
page's statements about BatchNorm in training mode hold."""

import pytest
import torch
from torch import nn

from snippets.experiments.ics import (
    NoisyBatchNorm1d,
    sigmoid_inputs,
    sigmoid_mlp,
)

g = torch.Generator().manual_seed(0)


def batch(*size, dtype=torch.float32):
    return (torch.randn(size, generator=g, dtype=dtype) * 3 + 2)


def test_noisy_bn_follows_algorithm_1_draw_by_draw():
    """Santurkar et al., Appendix A.2.1, Algorithm 1: per unit and step a
    mean mu ~ U(-0.5, 0.5) and a scale sigma ~ U(1, 1.25); per example
    m ~ U(mu - 0.1, mu + 0.1) and s ~ N(sigma, 0.1 ** 2); a <- s a + m."""
    noisy, plain = NoisyBatchNorm1d(5), nn.BatchNorm1d(5)
    x = batch(32, 5)
    torch.manual_seed(1)
    y = noisy(x).detach()
    torch.manual_seed(1)
    mu = torch.empty(1, 5).uniform_(-0.5, 0.5)
    sigma = torch.empty(1, 5).uniform_(1.0, 1.25)
    m = mu + 0.1 * (2 * torch.rand(32, 5) - 1)
    s = sigma + 0.1 * torch.randn(32, 5)
    torch.testing.assert_close(y, s * plain(x).detach() + m)
    assert ((mu >= -0.5) & (mu <= 0.5)).all()
    assert ((sigma >= 1) & (sigma <= 1.25)).all()
    assert not torch.allclose(noisy(x), noisy(x))  # a new draw every step


def test_noisy_bn_per_unit_parameters_are_per_channel_on_sequences():
    """On (N, C, L) input the positions count as examples: without the
    per-example jitter every channel gets one scale and one shift."""
    noisy = NoisyBatchNorm1d(3, jitter=0.0)
    x = batch(8, 3, 5)
    y, a = noisy(x).detach(), nn.BatchNorm1d(3)(x).detach()
    for c in range(3):
        yc, ac = y[:, c].flatten(), a[:, c].flatten()
        s = (yc[1:] - yc[0]) / (ac[1:] - ac[0])  # one slope per channel
        torch.testing.assert_close(s, s[0].expand_as(s), atol=1e-4,
                                   rtol=1e-4)
        assert 1 <= s[0] <= 1.25 + 1e-4
        assert abs(yc[0] - s[0] * ac[0]) <= 0.5 + 1e-4  # the shift mu
    assert noisy(batch(8, 3, 4)).shape == (8, 3, 4)  # any L


def test_noisy_bn_takes_batchnorm1d_arguments_positionally():
    noisy = NoisyBatchNorm1d(3, 1e-3, 0.01, False, False)
    assert (noisy.eps, noisy.momentum, noisy.affine,
            noisy.track_running_stats) == (1e-3, 0.01, False, False)
    assert NoisyBatchNorm1d(3, bias=False).bias is None


@pytest.mark.parametrize("kwargs", [
    {}, {"eps": 1e-3, "momentum": 0.3}, {"momentum": None},
    {"affine": False}, {"bias": False}, {"track_running_stats": False}])
def test_noisy_bn_is_batchnorm1d_without_noise_and_in_eval(kwargs):
    silent = NoisyBatchNorm1d(4, mean_range=0.0, scale_range=1.0,
                              jitter=0.0, **kwargs)
    plain = nn.BatchNorm1d(4, **kwargs)
    x = batch(16, 4)
    for _ in range(2):
        torch.testing.assert_close(silent(x), plain(x), rtol=0, atol=0)
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(silent.state_dict()[key], value)
    noisy = NoisyBatchNorm1d(4, **kwargs)
    noisy.load_state_dict(plain.state_dict())
    torch.testing.assert_close(noisy.eval()(x), plain.eval()(x))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_noisy_bn_keeps_the_input_dtype(dtype):
    noisy = NoisyBatchNorm1d(3).to(dtype)
    assert noisy(batch(8, 3, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_sigmoid_inputs_leaves_the_model_as_it_was(mode):
    model = sigmoid_mlp("bn", hidden=8).train(mode == "train")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = sigmoid_inputs(model, torch.rand(16, 1, 28, 28) * 5)
    assert len(inputs) == 3 and inputs[0].shape == (16, 8)
    assert model.training == (mode == "train")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_sigmoid_inputs_leaves_the_noise_generator_alone():
    """Measuring a noisy network does not change the noise it trains with."""
    model = sigmoid_mlp("noisy", hidden=8)
    x = torch.rand(16, 1, 28, 28)
    torch.manual_seed(3)
    unmeasured = model(x)
    torch.manual_seed(3)
    sigmoid_inputs(model, x)
    torch.testing.assert_close(model(x), unmeasured, rtol=0, atol=0)


def test_training_view_of_bn_inputs_is_normalized():
    """In training mode, with affine parameters, each unit's batch mean is
    the bias (beta) and its biased std weight * sqrt(var / (var + eps))."""
    model = sigmoid_mlp("bn", hidden=8)
    with torch.no_grad():
        model[2].weight.fill_(2.0)
        model[2].bias.fill_(-1.0)
    x = torch.rand(64, 1, 28, 28)
    first = sigmoid_inputs(model, x)[0]
    torch.testing.assert_close(first.mean(0), torch.full((8,), -1.0),
                               atol=1e-5, rtol=0)
    with torch.no_grad():
        var = model[1](x.flatten(1)).var(0, unbiased=False)
    torch.testing.assert_close(first.std(0, correction=0),
                               2.0 * torch.sqrt(var / (var + 1e-5)))


def test_sigmoid_mlp_matches_figure_1_of_the_paper():
    """3 fully connected hidden layers of 100 sigmoid units, 10 outputs;
    BatchNorm (when asked) before each sigmoid."""
    model = sigmoid_mlp("bn")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten"] + ["Linear", "BatchNorm1d", "Sigmoid"] * 3 \
        + ["Linear"]
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == \
        [100, 100, 100, 10]
