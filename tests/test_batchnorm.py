"""snippets/layers/batchnorm.py against torch.nn: outputs, gradients and buffers,
over several training steps (different batch sizes) and then eval."""

import itertools

import pytest
import torch
from torch import nn

from snippets.layers.batchnorm import TOLERANCE, BatchNorm, batch_norm_manual

TORCH_CLASS = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d,
               5: nn.BatchNorm3d}
C = 3


def make_pair(ndim, dtype, ours_class=BatchNorm, **kwargs):
    torch_bn = TORCH_CLASS[ndim](C, **kwargs).to(dtype)
    ours = ours_class(C, **kwargs).to(dtype)
    with torch.no_grad():  # non-trivial gamma and beta, the same in both
        if torch_bn.weight is not None:
            torch_bn.weight.uniform_(0.5, 1.5)
        if torch_bn.bias is not None:
            torch_bn.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(torch_bn.state_dict())  # strict: same keys
    return ours, torch_bn


def batch(batch_size, ndim, dtype, generator):
    shape = [batch_size, C] + [4, 3, 2][:ndim - 2]
    # Means and spreads far from 0 and 1, so normalization matters.
    x = torch.randn(shape, generator=generator, dtype=dtype) * 3 + 2
    return x


def compare(ours, theirs, ndim, dtype, steps=(4, 7, 2, 5), eval_steps=2):
    """Run both through training steps then eval; assert they agree."""
    tol = TOLERANCE[dtype]
    g = torch.Generator().manual_seed(0)
    modes = [True] * len(steps) + [False] * eval_steps
    sizes = list(steps) + [3] * eval_steps
    for training, size in zip(modes, sizes):
        ours.train(training)
        theirs.train(training)
        x = batch(size, ndim, dtype, g)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1, y2 = ours(x1), theirs(x2)
        torch.testing.assert_close(y1, y2, **tol)
        grad_out = torch.randn(y1.shape, generator=g, dtype=dtype)
        y1.backward(grad_out)
        y2.backward(grad_out)
        torch.testing.assert_close(x1.grad, x2.grad, **tol)
        for name, p in theirs.named_parameters():
            torch.testing.assert_close(getattr(ours, name).grad, p.grad,
                                       **tol)
        for name, buffer in theirs.named_buffers():
            torch.testing.assert_close(getattr(ours, name), buffer, **tol)
        assert set(dict(ours.named_buffers())) == \
            set(dict(theirs.named_buffers()))
        ours.zero_grad()
        theirs.zero_grad()


CASES = list(itertools.product(
    [2, 3, 4, 5], [0.1, 0.3, None], [True, False], [True, False],
    [torch.float64, torch.float32]))


@pytest.mark.parametrize("ndim, momentum, affine, track, dtype", CASES)
def test_matches_torch_nn(ndim, momentum, affine, track, dtype):
    ours, theirs = make_pair(ndim, dtype, momentum=momentum, affine=affine,
                             track_running_stats=track)
    assert repr(ours).split("(", 1)[1] == repr(theirs).split("(", 1)[1]
    compare(ours, theirs, ndim, dtype)


@pytest.mark.parametrize("ndim", [2, 4])
def test_scale_without_shift_matches_torch_nn(ndim):
    """bias=False (keyword-only): weight but no bias, like torch.nn."""
    ours, theirs = make_pair(ndim, torch.float64, bias=False)
    assert ours.bias is None and theirs.bias is None
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(ours, theirs, ndim, torch.float64)


class BiasedRunningVar(BatchNorm):
    """A plausible bug: store the biased variance in running_var."""

    @torch.no_grad()
    def _update_running_stats(self, mean, var, n):
        super()._update_running_stats(mean, var * (n - 1) / n, n)


def test_the_comparison_catches_a_biased_running_var():
    ours, theirs = make_pair(2, torch.float64, ours_class=BiasedRunningVar)
    with pytest.raises(AssertionError):
        compare(ours, theirs, 2, torch.float64)


def test_state_dicts_load_both_ways():
    ours, theirs = make_pair(4, torch.float32)
    compare(ours, theirs, 4, torch.float32)
    fresh_torch = nn.BatchNorm2d(C)
    fresh_torch.load_state_dict(ours.state_dict())
    for name, value in ours.state_dict().items():
        assert torch.equal(fresh_torch.state_dict()[name], value), name
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]


def test_no_buffers_or_parameters_when_disabled():
    bn = BatchNorm(C, affine=False, track_running_stats=False)
    torch_bn = nn.BatchNorm1d(C, affine=False, track_running_stats=False)
    for name in ("weight", "bias", "running_mean", "running_var",
                 "num_batches_tracked"):
        assert getattr(bn, name) is None and getattr(torch_bn, name) is None
    assert list(bn.state_dict()) == list(torch_bn.state_dict()) == []


@pytest.mark.parametrize("shape, training, track", [
    ((1, C), True, True),
    ((1, C, 1, 1), True, True),
    ((1, C, 1), True, True),
    ((1, C), False, False),   # eval without buffers still uses the batch
])
def test_one_value_per_channel_raises_like_torch(shape, training, track):
    ours = BatchNorm(C, track_running_stats=track).train(training)
    theirs = TORCH_CLASS[len(shape)](C, track_running_stats=track)
    theirs.train(training)
    x = torch.randn(shape)
    with pytest.raises(ValueError) as torch_error:
        theirs(x)
    with pytest.raises(ValueError) as our_error:
        ours(x)
    assert str(our_error.value) == str(torch_error.value)
    assert "Expected more than 1 value per channel when training" in \
        str(torch_error.value)


@pytest.mark.parametrize("shape, training", [
    ((1, C, 2, 2), True),    # 4 values per channel: fine
    ((1, C), False),         # eval with running statistics: fine
])
def test_single_sample_that_is_accepted(shape, training):
    ours = BatchNorm(C).train(training)
    theirs = TORCH_CLASS[len(shape)](C).train(training)
    x = torch.randn(shape)
    torch.testing.assert_close(ours(x), theirs(x))


def test_mode_follows_training_flag_not_grad_mode():
    """Under no_grad, a module in train mode still uses batch statistics
    and still updates its running estimates (as torch.nn does)."""
    ours, theirs = make_pair(2, torch.float64)
    x = torch.randn(8, C, dtype=torch.float64) * 2 + 5
    with torch.no_grad():
        y1, y2 = ours(x), theirs(x)
    torch.testing.assert_close(y1, y2)
    assert ours.num_batches_tracked.item() == 1
    assert ours.running_mean.abs().sum() > 0
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"expected 2D to 5D input"):
        BatchNorm(C)(torch.randn(C))


@pytest.mark.parametrize("shape", [(5, C), (4, C, 6), (3, C, 4, 5),
                                   (2, C, 2, 3, 4)])
def test_manual_backward_passes_gradcheck(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 1
    w = torch.randn(C, generator=g, dtype=torch.float64)
    b = torch.randn(C, generator=g, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (x, w, b))
    assert torch.autograd.gradcheck(batch_norm_manual, inputs)


def test_manual_matches_autograd_through_batchnorm2d():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, C, 5, 5, generator=g, dtype=torch.float64) * 3 - 1
    grad_out = torch.randn(x.shape, generator=g, dtype=torch.float64)
    torch_bn = nn.BatchNorm2d(C).double()
    with torch.no_grad():
        torch_bn.weight.uniform_(0.5, 1.5, generator=g)
        torch_bn.bias.uniform_(-1, 1, generator=g)
    w = torch_bn.weight.detach().clone().requires_grad_()
    b = torch_bn.bias.detach().clone().requires_grad_()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1 = batch_norm_manual(x1, w, b)
    y2 = torch_bn(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    y1.backward(grad_out)
    y2.backward(grad_out)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w.grad, torch_bn.weight.grad)
    torch.testing.assert_close(b.grad, torch_bn.bias.grad)


@pytest.mark.parametrize("eps, training, track", [
    (0.0, True, True), (-1.0, True, True), (0.0, False, False),
    (-1.0, False, True)])
def test_eps_checks_raise_like_torch(eps, training, track):
    ours = BatchNorm(C, eps=eps, track_running_stats=track).train(training)
    theirs = nn.BatchNorm1d(C, eps=eps, track_running_stats=track)
    theirs.train(training)
    x = torch.randn(4, C)
    with pytest.raises(ValueError) as torch_error:
        theirs(x)
    with pytest.raises(ValueError) as our_error:
        ours(x)
    assert str(our_error.value) == str(torch_error.value)


def test_eps_zero_is_allowed_with_running_stats_in_eval():
    ours, theirs = make_pair(2, torch.float64, eps=0.0)
    ours.eval()
    theirs.eval()
    x = torch.randn(4, C, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
