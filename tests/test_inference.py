"""Every behaviour the inference page states, asserted against PyTorch."""

import importlib

import pytest
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.optim.swa_utils import AveragedModel, update_bn

from snippets.layers.inference import (fold_conv_bn, fold_model,
                                freeze_batchnorm_statistics,
                                unfreeze_batchnorm_statistics)
from snippets.experiments.models import mlp, small_cnn
from conftest import EXAMPLES

C = 4


def batch(n=8, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g) * 2 + shift


def trained_bn(**kwargs):
    bn = nn.BatchNorm1d(C, **kwargs)
    for seed in range(3):
        bn(batch(seed=seed, shift=3.0))
    return bn


def test_eval_output_does_not_depend_on_batch_mates():
    bn = trained_bn().eval()
    x = batch(1, seed=9)
    a = bn(torch.cat([x, batch(7, seed=1)]))[0]
    b = bn(torch.cat([x, batch(7, seed=2, shift=10)]))[0]
    assert torch.equal(a, b)
    bn.train()
    a = bn(torch.cat([x, batch(7, seed=1)]))[0]
    b = bn(torch.cat([x, batch(7, seed=2, shift=10)]))[0]
    assert not torch.allclose(a, b)


def test_eval_normalizes_with_running_statistics():
    bn = trained_bn().eval()
    x = batch(5, seed=4)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    expected = expected * bn.weight + bn.bias
    torch.testing.assert_close(bn(x), expected)


def test_no_grad_is_not_eval():
    bn = nn.BatchNorm1d(C)
    with torch.no_grad():
        bn(batch(shift=5.0))
    assert bn.training and bn.num_batches_tracked.item() == 1
    assert bn.running_mean.abs().sum() > 0       # updated under no_grad
    x = batch(seed=3, shift=5.0)
    with torch.no_grad():
        y = bn(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(C), atol=1e-6,
                               rtol=0)           # batch statistics used


def test_update_rule_and_unbiased_running_var():
    bn = nn.BatchNorm1d(C, momentum=0.3)
    x = batch(6)
    bn(x)
    torch.testing.assert_close(bn.running_mean, 0.3 * x.mean(0))
    torch.testing.assert_close(bn.running_var,
                               0.7 * torch.ones(C) + 0.3 * x.var(0))
    assert not torch.allclose(bn.running_var,
                              0.7 + 0.3 * x.var(0, correction=0))


def test_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(C, momentum=None)
    batches = [batch(seed=s, shift=s) for s in range(5)]
    for x in batches:
        bn(x)
    means = torch.stack([x.mean(0) for x in batches])
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    assert bn.num_batches_tracked.item() == 5


def test_num_batches_tracked_counts_training_batches_only():
    bn = nn.BatchNorm1d(C)
    bn(batch())
    bn.eval()
    bn(batch())
    assert bn.num_batches_tracked.item() == 1


def test_track_running_stats_false():
    bn = nn.BatchNorm1d(C, track_running_stats=False).eval()
    assert bn.running_mean is None and bn.running_var is None
    y = bn(batch(shift=4.0))
    torch.testing.assert_close(y.mean(0), torch.zeros(C), atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape, training, raises", [
    ((1, C), True, True), ((1, C, 1, 1), True, True),
    ((1, C, 3, 3), True, False), ((1, C), False, False),
    ((1, C, 1, 1), False, False)])
def test_one_value_per_channel(shape, training, raises):
    layer = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(C)
    layer.train(training)
    if raises:
        with pytest.raises(ValueError, match="Expected more than 1 value "
                           "per channel when training"):
            layer(torch.randn(shape))
    else:
        layer(torch.randn(shape))


def test_requires_grad_false_does_not_freeze_statistics():
    model = mlp(hidden=(8,)).requires_grad_(False).train()
    before = model[2].running_mean.clone()
    model(torch.rand(16, 1, 28, 28))
    assert not torch.equal(before, model[2].running_mean)


def test_freeze_survives_train_and_can_be_undone():
    model = mlp(hidden=(8,))
    freeze_batchnorm_statistics(model).train()
    before = model[2].running_mean.clone()
    model(torch.rand(16, 1, 28, 28))
    assert torch.equal(before, model[2].running_mean)
    assert model.training and not model[2].training
    unfreeze_batchnorm_statistics(model).train()
    model(torch.rand(16, 1, 28, 28))
    assert not torch.equal(before, model[2].running_mean)


def test_averaged_model_copies_buffers_of_the_latest_model():
    """With the default use_buffers=False, AveragedModel averages the
    parameters but takes the buffers of the model last passed in."""
    model = mlp(hidden=(8,))
    swa = AveragedModel(model)
    model.train()
    model(torch.rand(16, 1, 28, 28) + 2)  # move the running statistics
    with torch.no_grad():
        model[1].weight.add_(1.0)
    swa.update_parameters(model)
    assert torch.equal(swa.module[2].running_mean, model[2].running_mean)


def test_update_bn_recomputes_the_statistics_of_the_loader():
    model = mlp(hidden=(8,))
    data = [torch.rand(32, 1, 28, 28) for _ in range(4)]
    update_bn(data, model)
    with torch.no_grad():
        h = model[:2](torch.cat(data))
    # update_bn uses momentum=None: the average of the batch means.
    torch.testing.assert_close(model[2].running_mean, h.mean(0))
    assert model[2].momentum == 0.1  # and restores the momentum


def trained_cnn():
    torch.manual_seed(0)
    model = small_cnn()
    for _ in range(3):
        model(torch.rand(16, 1, 28, 28) * 3)  # non-trivial statistics
    return model.eval()


def test_fold_matches_pytorch_and_the_unfolded_layers():
    model = trained_cnn()
    conv, bn = model[0], model[1]
    ours, theirs = fold_conv_bn(conv, bn), fuse_conv_bn_eval(conv, bn)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), bn(conv(x)), rtol=1e-5,
                                   atol=1e-5)
        torch.testing.assert_close(ours.weight, theirs.weight)
        torch.testing.assert_close(ours.bias, theirs.bias)
        torch.testing.assert_close(fold_model(model)(x), model(x),
                                   rtol=1e-5, atol=1e-5)


def test_fold_refuses_training_mode():
    model = trained_cnn().train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_conv_bn(model[0], model[1])


def test_keras_and_d2l_conventions_match_after_conversion(tmp_path,
                                                         monkeypatch):
    """The update rules the momentum example shows, imported from it."""
    monkeypatch.setenv("DOCS_OUTPUT_DIR", str(tmp_path))  # its outputs
    monkeypatch.syspath_prepend(str(EXAMPLES))
    momentum = importlib.import_module("inference_momentum")
    reference = momentum.module(0.1)
    for rule in (momentum.keras_rule, momentum.d2l_rule):
        torch.testing.assert_close(momentum.run(rule, 0.9), reference)
    assert not torch.allclose(momentum.run(momentum.keras_rule, 0.99),
                              momentum.module(0.99))


def test_track_running_stats_set_after_construction_is_not_the_same():
    """pytorch/pytorch#20967: flipping the attribute later leaves the
    buffers in place, and eval() keeps using them."""
    late = trained_bn()
    late.track_running_stats = False
    late.eval()
    built = nn.BatchNorm1d(C, track_running_stats=False).eval()
    x = batch(seed=5, shift=4.0)
    expected = (x - late.running_mean) / torch.sqrt(late.running_var + 1e-5)
    torch.testing.assert_close(late(x), expected)       # running stats
    torch.testing.assert_close(built(x).mean(0), torch.zeros(C), atol=1e-6,
                               rtol=0)                   # batch stats
