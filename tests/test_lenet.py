"""The experiments page's building blocks, checked against PyTorch: the
LeNet builder, the "lite" BatchNorm, the bias claim, and the training run
that every study repeats."""

from functools import partial

import pytest
import torch
from test_batchnorm import compare, make_pair
from torch import nn

from snippets.experiments.lenet import (compared_with, fashion_mnist, fit,
                                        lenet, repeat, seed_rows, within_noise)
from snippets.experiments.models import no_norm
from snippets.layers.batchnorm import TOLERANCE, BatchNorm
from snippets.layers.lite_batchnorm import LiteBatchNorm

HIDDEN = (nn.Conv2d, nn.Linear)


def kinds(model):
    return [type(m).__name__ for m in model]


@pytest.mark.parametrize("ndim", [2, 4])
def test_lite_batchnorm_with_both_halves_is_batchnorm(ndim):
    """center=True, scale=True: nn.BatchNorm1d/2d in train and eval,
    outputs, gradients and running statistics (float64)."""
    ours, theirs = make_pair(ndim, torch.float64, ours_class=LiteBatchNorm)
    compare(ours, theirs, ndim, torch.float64)


@pytest.mark.parametrize("center, scale", [(True, False), (False, True)])
def test_lite_batchnorm_halves_in_train_and_eval(center, scale):
    torch.manual_seed(0)
    layer = LiteBatchNorm(3, center=center, scale=scale).double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.uniform_(-1, 1)
    for _ in range(3):  # fill the running statistics
        layer(torch.randn(16, 3, 4, 4, dtype=torch.float64) * 3 + 2)
    x = torch.randn(16, 3, 4, 4, dtype=torch.float64) * 3 + 2
    for training in (True, False):
        layer.train(training)
        if training:
            mean = x.mean((0, 2, 3), keepdim=True)
            var = x.var((0, 2, 3), correction=0, keepdim=True)
        else:
            mean = layer.running_mean.view(1, -1, 1, 1)
            var = layer.running_var.view(1, -1, 1, 1)
        expected = x - mean if center else x
        expected = expected / torch.sqrt(var + layer.eps) if scale \
            else expected
        expected = expected * layer.weight.view(1, -1, 1, 1) \
            + layer.bias.view(1, -1, 1, 1)
        torch.testing.assert_close(layer(x), expected,
                                   **TOLERANCE[torch.float64])


def test_lenet_layout_follows_d2l():
    model = lenet()
    assert kinds(model) == [
        "Conv2d", "BatchNorm2d", "Sigmoid", "AvgPool2d",
        "Conv2d", "BatchNorm2d", "Sigmoid", "AvgPool2d", "Flatten",
        "Linear", "BatchNorm1d", "Sigmoid",
        "Linear", "BatchNorm1d", "Sigmoid", "Linear"]
    layers = [m for m in model if isinstance(m, HIDDEN)]
    assert [m.bias is None for m in layers] == [True] * 4 + [False]
    shapes = [tuple(m.weight.shape) for m in layers]
    assert shapes == [(6, 1, 5, 5), (16, 6, 5, 5), (120, 256), (84, 120),
                      (10, 84)]
    assert lenet()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_lenet_knobs():
    plain = lenet(no_norm, no_norm)
    assert "BatchNorm2d" not in kinds(plain)
    assert all(m.bias is not None for m in plain if isinstance(m, HIDDEN))
    after = kinds(lenet(after_activation=True))
    assert after[:4] == ["Conv2d", "Sigmoid", "BatchNorm2d", "AvgPool2d"]
    # After the sigmoid, BN no longer cancels the bias: it stays.
    assert all(m.bias is not None for m in lenet(after_activation=True)
               if isinstance(m, HIDDEN))
    conv_only = kinds(lenet(normalize=(0, 1)))
    assert conv_only.count("BatchNorm2d") == 2
    assert "BatchNorm1d" not in conv_only
    dropout = kinds(lenet(dropout=0.5))
    assert dropout.count("Dropout") == 2
    assert dropout[dropout.index("Dropout") - 1] == "Sigmoid"
    assert kinds(lenet(BatchNorm, BatchNorm)).count("BatchNorm") == 4


def test_initial_weights_depend_on_the_seed_only():
    """The studies compare variants "from the same weights": the seed
    fixes every conv and linear weight, with or without BatchNorm."""
    def weights(make):
        torch.manual_seed(3)
        return [m.weight for m in make() if isinstance(m, HIDDEN)]

    for a, b in zip(weights(lenet), weights(partial(lenet, BatchNorm,
                                                     BatchNorm))):
        assert torch.equal(a, b)
    for a, b in zip(weights(lenet), weights(partial(lenet, no_norm,
                                                     no_norm))):
        assert torch.equal(a, b)


def test_bias_before_batchnorm_gets_no_gradient_and_changes_nothing():
    """The claim behind "drop the bias": in train mode BatchNorm removes
    a per-channel constant, so the output and every other gradient are
    the same and the bias's own gradient is zero (float64 rounding)."""
    torch.manual_seed(0)
    without = lenet().double()
    with_bias = lenet(bias=True).double()
    with_bias.load_state_dict(without.state_dict(), strict=False)
    for m in [m for m in with_bias if isinstance(m, HIDDEN)][:4]:
        nn.init.uniform_(m.bias, -2, 2)  # clearly non-zero, before a BN
    x = torch.rand(32, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (32,))
    losses = []
    for model in (without, with_bias):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=0)
    hidden = [m for m in with_bias if isinstance(m, HIDDEN)][:4]
    for m in hidden:
        assert m.bias.grad.abs().max() < 1e-12
    for a, b in zip([m for m in without if isinstance(m, HIDDEN)],
                    [m for m in with_bias if isinstance(m, HIDDEN)]):
        torch.testing.assert_close(a.weight.grad, b.weight.grad,
                                   rtol=1e-9, atol=1e-12)
    # Without BatchNorm the same bias matters: its gradient is not zero.
    plain = lenet(no_norm, no_norm).double()
    nn.functional.cross_entropy(plain(x), y).backward()
    assert plain[0].bias.grad.abs().max() > 1e-6


def test_fit_is_deterministic_and_evaluates_when_asked():
    data = fashion_mnist(512, 200)
    a = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=1,
            evaluate_every=2)
    b = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=1,
            evaluate_every=2)
    assert a.losses == b.losses and a.test_accuracy == b.test_accuracy
    assert a.evaluated_at == [2, 4, 6, 8]
    # Evaluating mid-run (eval mode) must not change the training itself.
    once = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=1)
    assert once.losses == a.losses and once.evaluated_at == [4, 8]
    c = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=2)
    assert c.losses != a.losses


def test_from_scratch_batchnorm_trains_lenet_like_torch():
    """Same weights, same batches: the two LeNets follow each other."""
    data = fashion_mnist(1024, 200)
    ours = fit(partial(lenet, BatchNorm, BatchNorm), data, lr=1.0,
               epochs=1, batch_size=128)
    theirs = fit(lenet, data, lr=1.0, epochs=1, batch_size=128)
    assert max(abs(a - b) for a, b in zip(ours.losses, theirs.losses)) \
        < 1e-4


def test_seed_summaries():
    assert within_noise([0.5, 0.7], [0.6]) and not within_noise([0.5],
                                                               [0.6])
    data = fashion_mnist(256, 100)
    results = repeat({"BN": lenet, "none": partial(lenet, no_norm,
                                                   no_norm)},
                     data, seeds=[0, 1], lr=1.0, epochs=1, batch_size=128)
    assert [len(v) for v in results.values()] == [2, 2]
    rows = seed_rows(results)
    assert rows[0][0] == "BN" and "to" in rows[0][1]
    words = compared_with(results, "BN", "last-epoch loss")
    assert set(words) == {"none"}
