"""snippets/layers/small_batch.py against torch.nn: GhostBatchNorm is
BatchNorm on each virtual batch, BatchRenorm without correction is
BatchNorm, on every option; what renormalization changes (r and d,
clipped, no gradient through them), and what both refuse."""

import functools
import itertools
import math

import pytest
import torch
from torch import nn

from snippets.layers.batchnorm import TOLERANCE
from snippets.layers.small_batch import BatchRenorm, GhostBatchNorm
from test_batchnorm import CASES, TORCH_CLASS, C, batch, compare, make_pair

VIRTUAL = 4
STEPS = (8, 6, 12, 7)  # per virtual batch: 4+4, 4+2, 4+4+4, 4+3 samples


@pytest.mark.parametrize("ndim, momentum, affine, track, dtype", CASES)
def test_ghost_with_one_virtual_batch_is_batchnorm(ndim, momentum, affine,
                                                   track, dtype):
    ghost = functools.partial(GhostBatchNorm, virtual_batch_size=64)
    ours, theirs = make_pair(ndim, dtype, ghost, momentum=momentum,
                             affine=affine, track_running_stats=track)
    compare(ours, theirs, ndim, dtype)


def chunked(ndim):
    """torch.nn's BatchNorm applied to each virtual batch in turn."""
    def forward(self, x):
        return torch.cat([super(type(self), self).forward(part)
                          for part in x.split(VIRTUAL)])
    return type(f"Chunked{ndim}", (TORCH_CLASS[ndim],),
                {"forward": forward})


@pytest.mark.parametrize("ndim, momentum, affine, track, dtype", [
    case for case in CASES if case[1] in (0.1, None)])
def test_ghost_is_batchnorm_on_each_virtual_batch(ndim, momentum, affine,
                                                  track, dtype):
    """Virtual batches of 4 (and a shorter last one): outputs, gradients,
    running statistics updated batch after batch, then eval."""
    kwargs = dict(momentum=momentum, affine=affine,
                  track_running_stats=track)
    theirs = chunked(ndim)(C, **kwargs).to(dtype)
    with torch.no_grad():
        if affine:
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
    ours = GhostBatchNorm(C, VIRTUAL, **kwargs).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    compare(ours, theirs, ndim, dtype, steps=STEPS)


@pytest.mark.parametrize("ndim, momentum, affine, track, dtype", [
    case for case in CASES if case[3]])
def test_renorm_without_correction_is_batchnorm(ndim, momentum, affine,
                                               track, dtype):
    renorm = functools.partial(BatchRenorm, r_max=1, d_max=0)
    ours, theirs = make_pair(ndim, dtype, renorm, momentum=momentum,
                             affine=affine)
    compare(ours, theirs, ndim, dtype)


@pytest.mark.parametrize("make", [
    functools.partial(GhostBatchNorm, virtual_batch_size=64),
    functools.partial(BatchRenorm, r_max=1, d_max=0)])
@pytest.mark.parametrize("ndim, affine", list(itertools.product(
    [2, 4], [True, False])))
def test_bias_false_and_eps_match_torch_nn(make, ndim, affine):
    for kwargs in (dict(bias=False, affine=affine), dict(eps=0.1)):
        ours, theirs = make_pair(ndim, torch.float64, make, **kwargs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        compare(ours, theirs, ndim, torch.float64)


@pytest.mark.parametrize("make", [
    functools.partial(GhostBatchNorm, virtual_batch_size=64),
    functools.partial(BatchRenorm, r_max=1, d_max=0)])
@pytest.mark.parametrize("layer_dtype, input_dtype", [
    (torch.float32, torch.bfloat16), (torch.float32, torch.float16)])
def test_low_precision_input_matches_torch_nn(make, layer_dtype,
                                              input_dtype):
    ours, theirs = make_pair(4, layer_dtype, make)
    compare(ours, theirs, 4, input_dtype, input_dtype=input_dtype)


@pytest.mark.parametrize("make", [
    functools.partial(GhostBatchNorm, virtual_batch_size=2),
    functools.partial(BatchRenorm, virtual_batch_size=2)])
def test_device_dtype_and_state_dict_are_batchnorm_s(make):
    for dtype in (torch.float64, torch.bfloat16):
        ours = make(C, device="meta", dtype=dtype)
        theirs = nn.BatchNorm2d(C, device="meta", dtype=dtype)
        assert [(k, v.device, v.dtype) for k, v in ours.state_dict().items()] \
            == [(k, v.device, v.dtype) for k, v in theirs.state_dict().items()]
    trained = nn.BatchNorm2d(C)
    trained(torch.randn(8, C, 3, 3) * 2 + 1)
    ours = make(C)
    ours.load_state_dict(trained.state_dict())  # strict: the same keys
    nn.BatchNorm2d(C).load_state_dict(ours.state_dict())
    x = torch.randn(5, C, 3, 3)
    torch.testing.assert_close(ours.eval()(x), trained.eval()(x))


def renorm_with_stats(running_mean, running_var, **kwargs):
    layer = BatchRenorm(C, **kwargs).double()
    with torch.no_grad():
        layer.running_mean.copy_(running_mean)
        layer.running_var.copy_(running_var)
        layer.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        layer.bias.copy_(torch.tensor([-1.0, 0.0, 1.0]))
    return layer


STATS = (torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
         torch.tensor([4.0, 0.25, 9.0], dtype=torch.float64))


@pytest.mark.parametrize("virtual", [None, 4])
def test_unclipped_renorm_trains_with_the_running_statistics(virtual):
    """r and d unbounded: the training output is the eval output with the
    running statistics of before the step (the batch statistics cancel),
    Ioffe 2017's point; then the buffers move as in BatchNorm."""
    layer = renorm_with_stats(*STATS, r_max=math.inf, d_max=math.inf,
                              virtual_batch_size=virtual)
    x = batch(8, 4, torch.float64, torch.Generator().manual_seed(0))
    inferred = layer.eval()(x)
    trained = layer.train()(x)
    torch.testing.assert_close(trained, inferred, **TOLERANCE[torch.float64])
    assert not torch.equal(layer.running_mean, STATS[0])


def test_renorm_clips_r_and_d():
    """With a running variance far from the batch's, r = sigma_B / sigma
    is clipped to r_max (or 1 / r_max), d to +-d_max."""
    layer = renorm_with_stats(torch.tensor([50.0, -50.0, 0.0]),
                              torch.tensor([1e-4, 1e4, 1.0]),
                              r_max=3.0, d_max=2.0)
    x = batch(8, 2, torch.float64, torch.Generator().manual_seed(1))
    mean, var = x.mean(0), x.var(0, correction=0)
    x_hat = (x - mean) / torch.sqrt(var + layer.eps)
    r = torch.tensor([3.0, 1 / 3, 1.0])  # clipped, clipped, not clipped
    r[2] = torch.sqrt(var[2] + layer.eps) / math.sqrt(1.0 + layer.eps)
    d = torch.tensor([-2.0, 0.0, 0.0])  # clipped, then not clipped
    d[1] = (mean[1] + 50) / math.sqrt(1e4 + layer.eps)
    d[2] = mean[2] / math.sqrt(1.0 + layer.eps)
    expected = (x_hat * r + d) * layer.weight + layer.bias
    torch.testing.assert_close(layer(x), expected.detach())


def test_no_gradient_flows_through_r_and_d():
    """Backward treats r and d as constants: the input gradient is r times
    BatchNorm's. Differentiating through them would give another one."""
    renorm = renorm_with_stats(*STATS, r_max=3.0, d_max=5.0)
    bn = nn.BatchNorm1d(C).double()
    bn.load_state_dict(renorm.state_dict())
    g = torch.Generator().manual_seed(2)
    x = batch(8, 2, torch.float64, g)
    grad_y = torch.randn(8, C, generator=g, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    renorm(x1).backward(grad_y)
    bn(x2).backward(grad_y)
    sigma_b = torch.sqrt(x.var(0, correction=0) + renorm.eps)
    r = (sigma_b / torch.sqrt(STATS[1] + renorm.eps)).clamp(1 / 3, 3)
    assert not torch.allclose(r, torch.ones_like(r))  # a real correction
    torch.testing.assert_close(x1.grad, r * x2.grad)

    x3 = x.clone().requires_grad_()  # r and d differentiated: different
    mean, var = x3.mean(0), x3.var(0, correction=0)
    sigma = torch.sqrt(STATS[1] + renorm.eps)
    through = ((x3 - mean) / torch.sqrt(var + renorm.eps)
               * (torch.sqrt(var + renorm.eps) / sigma).clamp(1 / 3, 3)
               + ((mean - STATS[0]) / sigma).clamp(-5, 5))
    (through * renorm.weight.detach() + renorm.bias.detach()).backward(
        grad_y)
    assert not torch.allclose(x3.grad, x1.grad)


def test_renorm_per_virtual_batch_uses_the_statistics_of_before_the_step():
    """Two virtual batches: each is renormalized towards the running
    statistics of before the forward pass, which then move twice."""
    layer = renorm_with_stats(*STATS, virtual_batch_size=4)
    halves = [renorm_with_stats(*STATS) for _ in range(2)]
    x = batch(8, 2, torch.float64, torch.Generator().manual_seed(3))
    expected = torch.cat([h(part) for h, part in zip(halves, x.split(4))])
    torch.testing.assert_close(layer(x), expected)
    bn = nn.BatchNorm1d(C).double()
    bn.load_state_dict(renorm_with_stats(*STATS).state_dict())
    for part in x.split(4):
        bn(part)
    for name, buffer in bn.named_buffers():
        torch.testing.assert_close(getattr(layer, name), buffer)


@pytest.mark.parametrize("make, match", [
    (lambda: BatchRenorm(C, track_running_stats=False),
     "needs track_running_stats=True"),
    (lambda: BatchRenorm(C, r_max=0.5), "r_max must be at least 1"),
    (lambda: BatchRenorm(C, d_max=-1), "d_max must be at least 0"),
    (lambda: GhostBatchNorm(C, 0), "virtual_batch_size must be"),
    (lambda: GhostBatchNorm(C, 2.5), "virtual_batch_size must be"),
])
def test_refuses_what_it_cannot_do(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_options_changed_later_are_checked_too():
    layer = BatchRenorm(C)
    layer.r_max = 0.9  # e.g. a faulty schedule
    with pytest.raises(ValueError, match="r_max must be at least 1"):
        layer(torch.randn(4, C))


@pytest.mark.parametrize("make", [
    functools.partial(GhostBatchNorm, virtual_batch_size=3),
    functools.partial(BatchRenorm, virtual_batch_size=3)])
def test_a_virtual_batch_of_one_value_per_channel_raises_like_torch(make):
    x = torch.randn(7, C)  # 3 + 3 + 1: the last one has one value
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.cat([nn.BatchNorm1d(C)(part) for part in x.split(3)])
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        make(C)(x)
