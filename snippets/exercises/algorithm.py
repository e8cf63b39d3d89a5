"""Answers to the exercises on the algorithm page, each checked by its
doctest against PyTorch (and by tests/test_algorithm_exercises.py)."""

import math

import torch
from torch import nn


# --8<-- [start:count]
def statistics_count(shape):
    """How many means one training step computes for an (N, C, *) input,
    and over how many values each.

    >>> statistics_count((8, 16, 5, 5))
    (16, 200)
    >>> statistics_count((32, 64))
    (64, 32)
    """
    n, c, *spatial = shape
    return c, n * math.prod(spatial)
# --8<-- [end:count]


# --8<-- [start:identical]
def identical_samples():
    """A batch of two identical samples in training mode.

    In exact arithmetic x - mean is 0 for every feature, and
    0 / sqrt(0 + eps) is 0, so the output is beta (the layer's ``bias``)
    everywhere. PyTorch's kernel rounds the mean, and dividing by
    sqrt(eps), about 0.003, magnifies that rounding: in float32 the output
    can miss beta by 1e-4 for values around 100 (and by more for larger
    values); in float64 by about 1e-12.

    >>> bn = nn.BatchNorm1d(3)
    >>> with torch.no_grad():
    ...     _ = bn.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    >>> x = torch.tensor([[1.0, 2.0, 100.0], [1.0, 2.0, 100.0]])
    >>> miss = (bn(x) - bn.bias).detach().abs()   # distance from beta
    >>> bool(miss.max() < 1e-3), bool(miss.max() > 0)
    (True, True)
    >>> bn64 = nn.BatchNorm1d(3, dtype=torch.float64)
    >>> miss64 = (bn64(x.double()) - bn64.bias).detach().abs()
    >>> bool(miss64.max() < 1e-10)
    True
    """
# --8<-- [end:identical]


# --8<-- [start:cumulative]
def cumulative_average():
    """With momentum=None, running_mean is the plain average of the batch
    means seen so far; the initial 0 gets no weight.

    >>> bn = nn.BatchNorm1d(1, momentum=None)
    >>> for mean in (1.0, 2.0, 6.0):
    ...     _ = bn(torch.tensor([[mean - 1], [mean + 1]]))
    >>> bn.running_mean, bn.num_batches_tracked
    (tensor([3.]), tensor(3))
    """
# --8<-- [end:cumulative]


# --8<-- [start:unbiased]
def running_var_after_one_step():
    """With momentum=1.0 one step copies the batch statistics into the
    buffers: running_var gets the unbiased variance, n / (n - 1) times the
    biased one used to normalize.

    >>> bn = nn.BatchNorm1d(1, momentum=1.0)
    >>> x = torch.tensor([[0.0], [2.0], [4.0], [6.0]])   # n = 4
    >>> _ = bn(x)
    >>> x.var(correction=0), bn.running_var
    (tensor(5.), tensor([6.6667]))
    """
# --8<-- [end:unbiased]


# --8<-- [start:gradient]
def gradient_sums_to_zero(seed=0):
    """Adding a constant c to a whole channel does not change BN's output
    (the mean absorbs it), so the derivative along that direction, the sum
    of the input gradient over the channel, is zero.

    >>> g = gradient_sums_to_zero()
    >>> bool(g.abs().max() < 1e-12)
    True
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 4, 3, 3, generator=gen, dtype=torch.float64)
    x.requires_grad_()
    bn = nn.BatchNorm2d(4, dtype=torch.float64)
    weights = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    (bn(x) * weights).sum().backward()   # any loss will do
    return x.grad.sum(dim=(0, 2, 3))     # one sum per channel
# --8<-- [end:gradient]
