"""Answers to the exercises on the "which layer" page, checked by doctest."""

import torch
from torch import nn

from snippets.experiments.norm_axes import statistics_groups


# --8<-- [start:groups]
def group_norm_statistics(shape=(16, 32, 8, 8), groups=8):
    """One pair per sample and group; each over C/G channels x H x W.

    >>> group_norm_statistics()
    (128, 256)
    >>> x = torch.randn(2, 8, 3, 3)   # small enough to probe: 2 x 4 pairs
    >>> int(statistics_groups(nn.GroupNorm(4, 8), x).max()) + 1
    8
    """
    n, c, h, w = shape
    return n * groups, (c // groups) * h * w
# --8<-- [end:groups]


# --8<-- [start:tokens]
def token_layernorm():
    """``LayerNorm(C)``: the last dimension, one token at a time.

    >>> tokens = torch.randn(2, 5, 16)              # (N, L, C)
    >>> y = nn.LayerNorm(16)(tokens)
    >>> bool(y.mean(dim=-1).abs().max() < 1e-5)     # every token centred
    True
    """
# --8<-- [end:tokens]


# --8<-- [start:eval]
def group_norm_in_eval():
    """No: it has no running statistics, so eval() changes nothing.

    >>> gn = nn.GroupNorm(2, 4)
    >>> x = torch.randn(3, 4, 5)
    >>> torch.equal(gn.train()(x), gn.eval()(x)), list(gn.buffers())
    (True, [])
    """
# --8<-- [end:eval]


# --8<-- [start:reshape]
def group_norm_by_batch_norm(x, groups, eps=1e-5):
    """GroupNorm (without affine) via BatchNorm on a reshaped input: each
    (sample, group) becomes one BatchNorm "channel".

    >>> x = torch.randn(4, 6, 3, 3, dtype=torch.float64)
    >>> reference = nn.GroupNorm(2, 6, affine=False).double()(x)
    >>> torch.allclose(group_norm_by_batch_norm(x, 2), reference)
    True
    """
    n, c = x.shape[:2]
    y = x.reshape(1, n * groups, -1)   # (1, N*G, C/G * H * W)
    y = nn.functional.batch_norm(y, None, None, training=True, eps=eps)
    return y.reshape(x.shape)
# --8<-- [end:reshape]
