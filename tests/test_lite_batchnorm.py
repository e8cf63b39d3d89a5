"""snippets/layers/lite_batchnorm.py against torch.nn: with both halves on,
a drop-in for nn.BatchNorm1d/2d/3d on every option they take (outputs,
gradients, buffers, state_dict, errors); with one half off, the formula it
documents."""

import itertools

import pytest
import torch
from torch import nn

from snippets.layers.lite_batchnorm import LiteBatchNorm

TORCH_CLASS = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d,
               5: nn.BatchNorm3d}
C = 3
# How close "equal to torch.nn" must be: the two compute the same function
# in a different order, so they agree to rounding.
TOLERANCE = {torch.float64: dict(rtol=1e-10, atol=1e-12),
             torch.float32: dict(rtol=1e-4, atol=1e-5)}


def batch(size, ndim, dtype, generator):
    shape = [size, C] + [4, 3, 2][:ndim - 2]
    # Means and spreads far from 0 and 1, so that normalization matters.
    return torch.randn(shape, generator=generator, dtype=dtype) * 3 + 2


def make_pair(ndim, dtype, **options):
    theirs = TORCH_CLASS[ndim](C, dtype=dtype, **options)
    ours = LiteBatchNorm(C, dtype=dtype, **options)
    with torch.no_grad():  # non-trivial gamma and beta, the same in both
        if theirs.weight is not None:
            theirs.weight.uniform_(0.5, 1.5)
        if theirs.bias is not None:
            theirs.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(theirs.state_dict())  # strict: the same keys
    return ours, theirs


def run_both(ours, theirs, ndim, dtype, steps=(4, 7, 2, 5), evals=2):
    """Training steps of several batch sizes, then eval: outputs, input
    and parameter gradients and every buffer must agree after each."""
    tol = TOLERANCE[dtype]
    g = torch.Generator().manual_seed(0)
    for training, size in zip([True] * len(steps) + [False] * evals,
                              list(steps) + [3] * evals):
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
        assert set(dict(ours.named_buffers())) == \
            set(dict(theirs.named_buffers()))
        for name, buffer in theirs.named_buffers():
            torch.testing.assert_close(getattr(ours, name), buffer, **tol)
        ours.zero_grad()
        theirs.zero_grad()


# Every option of nn.BatchNorm*d: affine (with bias=False as a third
# choice), track_running_stats, momentum (None: cumulative average), eps.
AFFINE = [dict(affine=True), dict(affine=True, bias=False),
          dict(affine=False)]
CASES = list(itertools.product([2, 3, 4, 5], AFFINE, [True, False],
                               [0.1, None], [torch.float64]))
CASES += [(4, dict(affine=True), True, 0.1, torch.float32),
          (3, dict(affine=False), False, None, torch.float32)]


@pytest.mark.parametrize("ndim, affine, track, momentum, dtype", CASES)
def test_matches_torch_on_every_option(ndim, affine, track, momentum,
                                       dtype):
    ours, theirs = make_pair(ndim, dtype, track_running_stats=track,
                             momentum=momentum, eps=1e-3, **affine)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == \
        [n for n, _ in theirs.named_parameters()]
    run_both(ours, theirs, ndim, dtype)


def test_the_comparison_can_fail():
    """A layer that is off by a little (another eps) must not pass."""
    ours, theirs = make_pair(4, torch.float64)
    ours.eps = 2e-5
    with pytest.raises(AssertionError):
        run_both(ours, theirs, 4, torch.float64)


def test_constructor_takes_torch_arguments_in_torch_order():
    ours = LiteBatchNorm(C, 1e-3, 0.2, False, False)
    theirs = nn.BatchNorm1d(C, 1e-3, 0.2, False, False)
    for name in ("eps", "momentum", "affine", "track_running_stats"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.weight is None and ours.running_mean is None
    typed = LiteBatchNorm(C, dtype=torch.float64, device="cpu")
    assert typed.weight.dtype == typed.running_var.dtype == torch.float64
    assert typed.num_batches_tracked.dtype == torch.long  # as torch.nn
    text = repr(LiteBatchNorm(C, momentum=None, bias=False, scale=False))
    assert "momentum=None" in text and "bias=False" in text
    assert "center=True, scale=False" in text


@pytest.mark.parametrize("shape, training, track", [
    ((1, C), True, True),
    ((1, C, 1, 1), True, True),
    ((1, C, 1, 1, 1), True, True),
    ((1, C), False, False),  # eval without buffers still uses the batch
])
def test_one_value_per_channel_raises_like_torch(shape, training, track):
    ours = LiteBatchNorm(C, track_running_stats=track).train(training)
    theirs = TORCH_CLASS[len(shape)](C, track_running_stats=track)
    theirs.train(training)
    x = torch.randn(shape)
    with pytest.raises(ValueError) as torch_error:
        theirs(x)
    with pytest.raises(ValueError) as our_error:
        ours(x)
    assert str(our_error.value) == str(torch_error.value)
    if track:  # nothing was recorded from the refused batch
        assert ours.num_batches_tracked.item() == 0
        assert torch.equal(ours.running_var, torch.ones(C))


def test_one_sample_is_fine_in_eval_with_running_stats():
    ours, theirs = make_pair(2, torch.float64)
    ours.eval()
    theirs.eval()
    x = batch(1, 2, torch.float64, torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("eps, training, track", [
    (0.0, True, True), (-1e-3, True, True), (0.0, False, False),
    (-1e-3, False, True)])
def test_eps_checks_raise_like_torch(eps, training, track):
    ours = LiteBatchNorm(C, eps=eps, track_running_stats=track)
    theirs = nn.BatchNorm1d(C, eps=eps, track_running_stats=track)
    ours.train(training)
    theirs.train(training)
    x = torch.randn(8, C)
    with pytest.raises(ValueError) as torch_error:
        theirs(x)
    with pytest.raises(ValueError) as our_error:
        ours(x)
    assert str(our_error.value) == str(torch_error.value)


def test_eps_zero_is_allowed_in_eval_with_running_stats():
    ours, theirs = make_pair(2, torch.float64, eps=0.0)
    ours.eval()
    theirs.eval()
    x = batch(4, 2, torch.float64, torch.Generator().manual_seed(2))
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("ndim", [1, 6])
def test_rejects_the_ranks_no_batchnorm_takes(ndim):
    x = torch.randn([2, C] + [2] * (ndim - 2) if ndim > 1 else [C])
    with pytest.raises(ValueError):  # what nn.BatchNorm1d/3d raise, too
        TORCH_CLASS[2 if ndim == 1 else 5](C)(x)
    with pytest.raises(ValueError, match=f"got {ndim}D input"):
        LiteBatchNorm(C)(x)


@pytest.mark.parametrize("layer_dtype, x_dtype", [
    (torch.float32, torch.float16), (torch.float32, torch.bfloat16),
    (torch.float16, torch.float16), (torch.bfloat16, torch.bfloat16)])
def test_low_precision_inputs_like_torch(layer_dtype, x_dtype):
    """torch.nn computes float16/bfloat16 inputs in float32 and returns
    them in their own dtype; so does LiteBatchNorm, to that dtype's
    rounding."""
    ours = LiteBatchNorm(C, dtype=layer_dtype)
    theirs = nn.BatchNorm2d(C, dtype=layer_dtype)
    g = torch.Generator().manual_seed(4)
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        x = batch(8, 4, torch.float32, g).to(x_dtype)
        y1, y2 = ours(x), theirs(x)
        assert y1.dtype == y2.dtype == x_dtype
        torch.testing.assert_close(y1, y2, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(ours.running_var, theirs.running_var,
                               rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("layer_dtype, x_dtype", [
    (torch.float32, torch.float64), (torch.float64, torch.float32),
    (torch.float16, torch.float32)])
def test_mixed_dtypes_raise_like_torch(layer_dtype, x_dtype):
    x = torch.randn(8, C, dtype=x_dtype)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        nn.BatchNorm1d(C, dtype=layer_dtype)(x)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        LiteBatchNorm(C, dtype=layer_dtype)(x)


HALVES = [(True, False), (False, True), (False, False)]


@pytest.mark.parametrize("center, scale", HALVES)
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("track", [True, False])
def test_halves_follow_their_formula(center, scale, affine, track):
    """y = (x - mean if center) / (sqrt(var + eps) if scale), then weight
    and bias where they exist; batch statistics in training (and in eval
    without buffers), running statistics in eval; the running statistics
    are updated exactly as nn.BatchNorm2d updates them."""
    g = torch.Generator().manual_seed(3)
    layer = LiteBatchNorm(C, center=center, scale=scale,
                          track_running_stats=track, dtype=torch.float64,
                          **affine)
    reference = nn.BatchNorm2d(C, track_running_stats=track,
                               dtype=torch.float64)
    with torch.no_grad():
        if layer.weight is not None:
            layer.weight.uniform_(0.5, 1.5, generator=g)
        if layer.bias is not None:
            layer.bias.uniform_(-1, 1, generator=g)
    for _ in range(3):  # fill the running statistics
        x = torch.randn(16, C, 4, 4, generator=g, dtype=torch.float64)
        layer(x * 3 + 2)
        reference(x * 3 + 2)
    if track:
        torch.testing.assert_close(layer.running_mean,
                                   reference.running_mean)
        torch.testing.assert_close(layer.running_var, reference.running_var)
    x = torch.randn(16, C, 4, 4, generator=g, dtype=torch.float64) * 3 + 2
    view = (1, -1, 1, 1)
    for training in (True, False):
        layer.train(training)
        if training or not track:
            mean = x.mean((0, 2, 3), keepdim=True)
            var = x.var((0, 2, 3), correction=0, keepdim=True)
        else:
            mean = layer.running_mean.view(view)
            var = layer.running_var.view(view)
        expected = x - mean if center else x
        if scale:
            expected = expected / torch.sqrt(var + layer.eps)
        if layer.weight is not None:
            expected = expected * layer.weight.view(view)
        if layer.bias is not None:
            expected = expected + layer.bias.view(view)
        torch.testing.assert_close(layer(x), expected,
                                   **TOLERANCE[torch.float64])
