"""Every behaviour the inference page states, asserted against PyTorch."""

import copy
import importlib
import io
from collections import OrderedDict

import pytest
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse as fx_fuse
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.optim.swa_utils import AveragedModel, update_bn

from snippets.experiments.models import mlp, small_cnn
from snippets.layers.inference import (
    fold_conv_bn,
    fold_model,
    freeze_batchnorm_statistics,
    unfreeze_batchnorm_statistics,
)
from testkit import EXAMPLES

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
    """Each batch weighs the same, whatever its size."""
    bn = nn.BatchNorm1d(C, momentum=None)
    batches = [batch(n=4 + 6 * s, seed=s, shift=s) for s in range(5)]
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


def test_eval_updates_nothing():
    """In eval mode a layer that tracks statistics updates none of its
    buffers (and in training mode it does)."""
    bn = trained_bn().eval()
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    bn(batch(seed=7, shift=-5.0))
    for name, value in bn.state_dict().items():
        assert torch.equal(value, before[name]), name
    bn.train()(batch(seed=7, shift=-5.0))
    assert not torch.equal(bn.running_mean, before["running_mean"])


def test_inference_mode_is_not_eval_either():
    bn = nn.BatchNorm1d(C)
    with torch.inference_mode():
        y = bn(batch(shift=5.0))
    assert bn.num_batches_tracked.item() == 1
    assert bn.running_mean.abs().sum() > 0             # updated
    torch.testing.assert_close(y.mean(0), torch.zeros(C), atol=1e-6,
                               rtol=0)                  # batch statistics


def test_optimizer_leaves_parameters_without_grad_alone():
    """requires_grad_(False) parameters get no .grad, and the optimizer
    skips parameters whose .grad is None, even with momentum and weight
    decay."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    before = model[0].weight.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                weight_decay=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(8, 3)).sum().backward()
        optimizer.step()
    assert model[0].weight.grad is None
    assert torch.equal(model[0].weight, before)


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


@pytest.mark.parametrize("make", [
    lambda: nn.BatchNorm1d(C), lambda: nn.SyncBatchNorm(C),
    lambda: nn.LazyBatchNorm1d()])
def test_freeze_covers_every_batchnorm_class(make):
    model = nn.Sequential(nn.Linear(3, C), make())
    model(torch.randn(8, 3))  # training step: materializes a lazy layer
    freeze_batchnorm_statistics(model).train()
    assert model.training and not model[1].training
    before = model[1].running_mean.clone()
    model(torch.randn(8, 3) * 3 + 2)
    assert torch.equal(before, model[1].running_mean)


def test_freeze_refuses_what_it_cannot_freeze():
    untracked = nn.Sequential(nn.Linear(3, C),
                              nn.BatchNorm1d(C, track_running_stats=False))
    with pytest.raises(ValueError, match="track_running_stats=False"):
        freeze_batchnorm_statistics(untracked)
    assert untracked[1].training  # refused before changing anything
    with pytest.raises(ValueError, match="forward pass"):
        freeze_batchnorm_statistics(nn.Sequential(nn.LazyBatchNorm1d()))


def test_update_bn_would_wipe_frozen_statistics_so_freeze_refuses_it():
    """update_bn resets the running statistics, then runs the data in
    train mode, which a frozen layer ignores: it would end with 0 and 1.
    A frozen layer refuses the reset instead; after unfreezing, update_bn
    recomputes the statistics as usual."""
    model = mlp(hidden=(8,))
    model(torch.rand(32, 1, 28, 28) + 1)
    trained = model[2].running_mean.clone()
    data = [torch.rand(32, 1, 28, 28) for _ in range(2)]
    plain = copy.deepcopy(model)  # eval, and train() ignored: no more
    plain[2].eval()
    plain[2].train = lambda mode=True: plain[2]
    update_bn(data, plain)
    assert torch.equal(plain[2].running_mean, torch.zeros(8))  # wiped
    freeze_batchnorm_statistics(model)
    with pytest.raises(ValueError, match="unfreeze"):
        update_bn(data, model)
    assert torch.equal(model[2].running_mean, trained)
    update_bn(data, unfreeze_batchnorm_statistics(model))
    assert model[2].num_batches_tracked.item() == len(data)


def test_frozen_model_survives_save_load_and_deepcopy():
    model = freeze_batchnorm_statistics(mlp(hidden=(8,)))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for copied in (torch.load(buffer, weights_only=False),
                   copy.deepcopy(model)):
        copied.train()
        assert copied.training and not copied[2].training
        before = copied[2].running_mean.clone()
        copied(torch.rand(16, 1, 28, 28) + 1)
        assert torch.equal(before, copied[2].running_mean)


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
    """update_bn resets the statistics, averages the loader's batches
    with momentum=None (equal weights), and restores the momentum."""
    model = mlp(hidden=(8,))
    for _ in range(3):
        model(torch.rand(32, 1, 28, 28) * 5)  # statistics to be reset
    data = [torch.rand(32, 1, 28, 28) for _ in range(4)]
    update_bn(data, model)
    with torch.no_grad():
        h = model[:2](torch.cat(data))
    torch.testing.assert_close(model[2].running_mean, h.mean(0))
    assert model[2].num_batches_tracked.item() == len(data)
    assert model[2].momentum == 0.1


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


def conv_bn(conv, bn, dtype=torch.float32):
    """conv and bn in eval mode with non-trivial statistics, parameters
    and buffers."""
    g = torch.Generator().manual_seed(0)
    conv, bn = conv.to(dtype), bn.to(dtype)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        for p in (bn.weight, bn.bias):
            if p is not None:
                p.copy_(torch.randn(p.shape, generator=g))
    return conv.eval(), bn.eval()


FOLD_CASES = {
    "default": (lambda: nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d, {}),
    "reflect": (lambda: nn.Conv2d(4, 6, 3, padding=1,
                                  padding_mode="reflect"), nn.BatchNorm2d, {}),
    "circular": (lambda: nn.Conv2d(4, 6, 3, padding=1,
                                   padding_mode="circular"),
                 nn.BatchNorm2d, {}),
    "replicate": (lambda: nn.Conv2d(4, 6, 3, padding=1,
                                    padding_mode="replicate"),
                  nn.BatchNorm2d, {}),
    "groups": (lambda: nn.Conv2d(4, 6, 3, groups=2), nn.BatchNorm2d, {}),
    "depthwise": (lambda: nn.Conv2d(4, 4, 3, groups=4), nn.BatchNorm2d, {}),
    "dilation stride": (lambda: nn.Conv2d(4, 6, 3, dilation=2, stride=2),
                        nn.BatchNorm2d, {}),
    "padding same": (lambda: nn.Conv2d(4, 6, 3, padding="same"),
                     nn.BatchNorm2d, {}),
    "conv without bias": (lambda: nn.Conv2d(4, 6, 3, bias=False),
                          nn.BatchNorm2d, {}),
    "bn affine=False": (lambda: nn.Conv2d(4, 6, 3), nn.BatchNorm2d,
                        dict(affine=False)),
    "bn bias=False": (lambda: nn.Conv2d(4, 6, 3), nn.BatchNorm2d,
                      dict(bias=False)),
    "bn momentum=None eps=1e-3": (lambda: nn.Conv2d(4, 6, 3), nn.BatchNorm2d,
                                  dict(momentum=None, eps=1e-3)),
    "SyncBatchNorm": (lambda: nn.Conv2d(4, 6, 3), nn.SyncBatchNorm, {}),
    "Conv1d": (lambda: nn.Conv1d(4, 6, 3), nn.BatchNorm1d, {}),
    "Conv3d": (lambda: nn.Conv3d(4, 6, 3), nn.BatchNorm3d, {}),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(4, 6, 3, stride=2),
                        nn.BatchNorm1d, {}),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2,
                                                   output_padding=1),
                        nn.BatchNorm2d, {}),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(4, 6, 2), nn.BatchNorm3d,
                        {}),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", list(FOLD_CASES))
def test_fold_matches_pytorch_on_every_option(case, dtype):
    make_conv, make_bn, options = FOLD_CASES[case]
    conv, bn = conv_bn(make_conv(), make_bn(6 if case != "depthwise" else 4,
                                            **options), dtype)
    rank = {nn.BatchNorm1d: 1, nn.BatchNorm3d: 3}.get(make_bn, 2)
    x = torch.randn((2, 4) + (7,) * rank, dtype=dtype)
    ours = fold_conv_bn(conv, bn)
    transposed = isinstance(conv, nn.modules.conv._ConvTransposeNd)
    theirs = fuse_conv_bn_eval(conv, bn, transpose=transposed)
    assert type(ours) is type(conv) and ours.weight.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    with torch.no_grad():
        reference = bn(conv(x))
        torch.testing.assert_close(ours(x), reference, **tol)
        torch.testing.assert_close(theirs(x), reference, **tol)


def test_fold_keeps_the_device():
    conv, bn = conv_bn(nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6))
    fused = fold_conv_bn(conv.to("meta"), bn.to("meta"))
    assert fused.weight.device.type == fused.bias.device.type == "meta"


@pytest.mark.parametrize("conv, bn, match", [
    (nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), "training mode"),
    (nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6, track_running_stats=False).eval(),
     "track_running_stats=False"),
    (nn.ConvTranspose2d(4, 6, 3, groups=2), nn.BatchNorm2d(6).eval(),
     "grouped"),
    (nn.Conv2d(4, 6, 3), nn.BatchNorm2d(5).eval(), "6 output channels"),
])
def test_fold_refuses_what_it_cannot_fold(conv, bn, match):
    with pytest.raises(ValueError, match=match):
        fold_conv_bn(conv, bn)


def block(width_in, width_out):
    return nn.Sequential(nn.Conv2d(width_in, width_out, 3, padding=1),
                         nn.BatchNorm2d(width_out), nn.ReLU())


def test_fold_model_folds_nested_blocks_keeps_names_and_the_original():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(
        stem=block(1, 4), body=nn.Sequential(block(4, 4), block(4, 4)),
        drop=nn.Dropout(0.5), pool=nn.AdaptiveAvgPool2d(1),
        flat=nn.Flatten(), head=nn.Linear(4, 3), norm=nn.BatchNorm1d(3)))
    model(torch.rand(8, 1, 6, 6) * 3)  # non-trivial running statistics
    model.eval()
    model.drop.train()  # a submodule in its own mode, left alone
    originals = {name: module for name, module in model.named_modules()}
    folded = fold_model(model)
    assert model.drop.training  # the original's modes are untouched
    remaining = [n for n, m in folded.named_modules()
                 if isinstance(m, nn.BatchNorm2d)]
    assert remaining == []  # every conv-BN pair folded, nested too
    assert isinstance(folded.norm, nn.BatchNorm1d)  # no conv before it
    assert list(dict(folded.named_children())) == [
        "stem", "body", "drop", "pool", "flat", "head", "norm"]
    assert all(m is not originals.get(n) for n, m in folded.named_modules())
    model.drop.eval()
    x = torch.rand(5, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5,
                                   atol=1e-5)


def test_fold_model_refuses_other_models_which_fx_can_fold():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.conv(x)).relu()

    net = Net()
    net(torch.rand(8, 1, 6, 6))
    net.eval()
    with pytest.raises(ValueError, match="nn.Sequential"):
        fold_model(net)
    fused = fx_fuse(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(2, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), net(x))


def test_fold_refuses_training_mode():
    model = trained_cnn().train()
    with pytest.raises(ValueError, match="model.eval()"):
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
    """pytorch/pytorch#44415: flipping the attribute later leaves the
    buffers in place, and eval() keeps using them (since PR #38084, a
    training step no longer updates them: the #20967 and #37823 case)."""
    late = trained_bn()
    late.track_running_stats = False
    late.eval()
    built = nn.BatchNorm1d(C, track_running_stats=False).eval()
    x = batch(seed=5, shift=4.0)
    expected = (x - late.running_mean) / torch.sqrt(late.running_var + 1e-5)
    torch.testing.assert_close(late(x), expected)       # running stats
    torch.testing.assert_close(built(x).mean(0), torch.zeros(C), atol=1e-6,
                               rtol=0)                   # batch stats
    before = late.running_mean.clone(), late.num_batches_tracked.clone()
    late.train()(x)                                      # no update
    assert torch.equal(late.running_mean, before[0])
    assert torch.equal(late.num_batches_tracked, before[1])
