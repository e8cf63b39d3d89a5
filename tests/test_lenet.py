"""The experiments page's building blocks, checked against PyTorch: the
LeNet builder, the statements the page makes about BatchNorm in LeNet
(defaults, affine=False, the bias before it, the running mean's lag), the
training run that every study repeats, and how the studies compare
variants over seeds. LiteBatchNorm has its own file,
tests/test_lite_batchnorm.py."""

from functools import partial

import pytest
import torch
from torch import nn

from snippets.experiments.lenet import (
    compare,
    comparison_rows,
    effect_text,
    fashion_mnist,
    final_stretch,
    fit,
    lenet,
    measured,
    repeat,
)
from snippets.experiments.models import no_norm
from snippets.layers.batchnorm import BatchNorm
from snippets.layers.lite_batchnorm import LiteBatchNorm

HIDDEN = (nn.Conv2d, nn.Linear)


def kinds(model):
    return [type(m).__name__ for m in model]


def test_lenet_layout_follows_d2l():
    """The layout of d2l's LeNet with BatchNorm (16 * 4 * 4 -> 120 -> 84
    -> 10, no padding), except that the four layers before a BatchNorm
    have no bias (d2l keeps them)."""
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
    linear_only = lenet(normalize=(2, 3))
    assert kinds(linear_only).count("BatchNorm1d") == 2
    assert [m.bias is None for m in linear_only if isinstance(m, HIDDEN)] \
        == [False, False, True, True, False]
    dropout = kinds(lenet(dropout=0.5))
    assert dropout.count("Dropout") == 2
    assert [dropout[i - 1] for i, k in enumerate(dropout)
            if k == "Dropout"] == ["Sigmoid", "Sigmoid"]
    assert kinds(lenet(BatchNorm, BatchNorm)).count("BatchNorm") == 4
    # A variance-only LiteBatchNorm does not subtract the mean, and still
    # gets no bias before it: its beta is the only shift (as the lenet()
    # docstring says: no bias where a normalization layer follows).
    variance_only = partial(LiteBatchNorm, center=False)
    hidden = [m for m in lenet(variance_only, variance_only)
              if isinstance(m, HIDDEN)]
    assert all(m.bias is None for m in hidden[:4])


# Every variant the studies build, by the knob it turns.
VARIANTS = {
    "no normalization": partial(lenet, no_norm, no_norm),
    "from scratch": partial(lenet, BatchNorm, BatchNorm),
    "after sigmoid": partial(lenet, after_activation=True),
    "conv layers only": partial(lenet, normalize=(0, 1)),
    "linear layers only": partial(lenet, normalize=(2, 3)),
    "mean only": partial(lenet, partial(LiteBatchNorm, scale=False),
                         partial(LiteBatchNorm, scale=False)),
    "variance only": partial(lenet, partial(LiteBatchNorm, center=False),
                             partial(LiteBatchNorm, center=False)),
    "affine=False": partial(lenet, partial(nn.BatchNorm2d, affine=False),
                            partial(nn.BatchNorm1d, affine=False)),
    "dropout": partial(lenet, dropout=0.5),
    "bias before BatchNorm": partial(lenet, bias=True),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_initial_weights_depend_on_the_seed_only(name):
    """The studies compare variants "from the same weights": the seed
    fixes every conv and linear weight, whatever else a variant changes."""
    def weights(make, seed):
        torch.manual_seed(seed)
        return [m.weight for m in make() if isinstance(m, HIDDEN)]

    for a, b in zip(weights(lenet, 3), weights(VARIANTS[name], 3)):
        assert torch.equal(a, b)
    assert not torch.equal(weights(lenet, 3)[0], weights(lenet, 4)[0])


@pytest.mark.parametrize("make", [nn.BatchNorm2d, nn.BatchNorm1d,
                                  BatchNorm])
def test_batchnorm_starts_as_the_identity_affine(make):
    """BatchNorm's weight (gamma) starts at 1 and its bias (beta) at 0;
    the running statistics at mean 0 and variance 1."""
    layer = make(6)
    assert torch.equal(layer.weight, torch.ones(6))
    assert torch.equal(layer.bias, torch.zeros(6))
    assert torch.equal(layer.running_mean, torch.zeros(6))
    assert torch.equal(layer.running_var, torch.ones(6))


def test_affine_false_is_gamma_and_beta_fixed_at_1_and_0():
    """affine=False behaves like the default layer with its weight and
    bias frozen at their initial 1 and 0, in train and eval mode."""
    fixed = nn.BatchNorm2d(4, affine=False)
    default = nn.BatchNorm2d(4)
    assert fixed.weight is None and fixed.bias is None
    g = torch.Generator().manual_seed(0)
    for training in (True, True, False):
        fixed.train(training)
        default.train(training)
        x = torch.randn(8, 4, 5, 5, generator=g) * 3 + 1
        torch.testing.assert_close(fixed(x), default(x), rtol=0, atol=0)


def test_affine_false_output_is_standardized_in_training_only():
    """In training mode every channel of the output has mean 0 and
    (biased) variance 1, up to eps; in eval mode, with running statistics
    from other batches, it does not."""
    layer = nn.BatchNorm2d(4, affine=False).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 4, 6, 6, generator=g, dtype=torch.float64) * 3 + 2
    y = layer(x)
    torch.testing.assert_close(y.mean((0, 2, 3)),
                               torch.zeros(4, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(y.var((0, 2, 3), correction=0),
                               torch.ones(4, dtype=torch.float64),
                               rtol=0, atol=1e-5)
    layer.eval()  # one batch of running statistics: far from this batch
    assert layer(x).mean((0, 2, 3)).abs().min() > 0.1


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


@pytest.mark.parametrize("case", ["after the sigmoid", "BatchNorm in eval"])
def test_the_bias_is_not_cancelled(case):
    """The exceptions to "drop the bias": with BatchNorm after the
    activation, or with a BatchNorm kept in eval mode while the network
    trains (frozen), the bias before it gets a gradient."""
    torch.manual_seed(0)
    model = lenet(after_activation=case == "after the sigmoid",
                  bias=True).double()
    if case == "BatchNorm in eval":
        for m in model:
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()  # subtracts the running mean, not the batch's
    x = torch.rand(32, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (32,))
    nn.functional.cross_entropy(model(x), y).backward()
    assert model[0].bias.grad.abs().max() > 1e-6


def test_running_mean_lags_behind_a_bias_by_the_momentum_factor():
    """Feed one BatchNorm x and another x + b for t steps: both see the
    same batch statistics up to the shift, so in eval mode their outputs
    differ by the part of b the running mean has not caught up with,
    b (1 - momentum)^t / sqrt(running_var + eps)."""
    g = torch.Generator().manual_seed(2)
    plain, shifted = nn.BatchNorm1d(3).double(), nn.BatchNorm1d(3).double()
    b = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    steps = 20
    for _ in range(steps):
        x = torch.randn(64, 3, generator=g, dtype=torch.float64)
        plain(x)
        shifted(x + b)
    plain.eval()
    shifted.eval()
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    lag = b * 0.9 ** steps / torch.sqrt(plain.running_var + plain.eps)
    torch.testing.assert_close(shifted(x + b) - plain(x),
                               lag.expand(5, 3), rtol=1e-9, atol=1e-12)


def test_fit_is_deterministic_and_evaluates_when_asked():
    data = fashion_mnist(512, 200)
    a = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=1,
            evaluate_at=[2, 4, 6, 8], train_accuracy=True)
    b = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=1,
            evaluate_at=[2, 4, 6, 8], train_accuracy=True)
    assert a.losses == b.losses and a.test_accuracy == b.test_accuracy
    assert a.evaluated_at == [2, 4, 6, 8] and len(a.train_accuracy) == 4
    # Evaluating mid-run (eval mode) must not change the training itself.
    once = fit(lenet, data, lr=1.0, epochs=2, batch_size=128, seed=1)
    assert once.losses == a.losses and once.evaluated_at == [4, 8]
    assert once.train_accuracy is None
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


def test_final_stretch_ends_with_the_last_step():
    assert final_stretch(78, 39) == [52, 65, 78]
    assert final_stretch(160, 26) == [142, 151, 160]
    assert final_stretch(12, 6, count=2) == [9, 12]


def test_seed_comparisons_follow_the_site_procedure():
    """Variants trained per seed, compared with compare.Comparison, seed
    by seed; the effect is the mean of the per-seed differences with
    their range."""
    data = fashion_mnist(256, 100)
    results = repeat({"BN": lenet, "none": partial(lenet, no_norm,
                                                   no_norm)},
                     data, seeds=[0, 1], lr=1.0, epochs=1, batch_size=128)
    assert [len(v) for v in results.values()] == [2, 2]
    c = compare(results, "none", "BN", "last-epoch loss")
    assert list(c.values) == measured(results, "none", "last-epoch loss")
    assert c.higher_is_better is False
    rows = comparison_rows(results, "BN", "test accuracy")
    assert rows[0][0] == "BN" and rows[0][2] == "reference"
    assert rows[1][3] in ("better", "worse", "within seed-to-seed noise",
                          "tied")


def test_effect_text_and_verdicts():
    """The verdict reads the pairs: runs that overlap but are lower on
    every seed are worse; seeds that disagree in sign are within
    seed-to-seed noise; the effect is printed in points with the per-seed
    range."""
    class R:  # just what the metrics read
        def __init__(self, acc):
            self.test_accuracy, self.losses, self.steps_per_epoch = \
                [acc], [0.0], 1

    results = {"ref": [R(0.768), R(0.751), R(0.776)],
               "paired lower": [R(0.742), R(0.742), R(0.766)],
               "far lower": [R(0.40), R(0.45), R(0.50)],
               "mixed": [R(0.770), R(0.742), R(0.780)]}
    close = compare(results, "paired lower", "ref", "test accuracy")
    assert close.verdict == "worse"
    assert compare(results, "mixed", "ref", "test accuracy").verdict == \
        "within seed-to-seed noise"
    assert effect_text(close, "test accuracy") == \
        "-1.5 points (-2.6 to -0.9 by seed)"
    assert compare(results, "far lower", "ref", "test accuracy").verdict \
        == "worse"
