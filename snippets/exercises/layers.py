"""Answers to the exercises on the "which layer" page, checked by doctest."""

# The imports marked noqa are used by the doctests alone.
import torch  # noqa: F401
from torch import nn  # noqa: F401
from torch.nn import functional as F

from snippets.experiments.norm_axes import statistics_groups  # noqa: F401


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
    >>> bool((y.std(dim=-1, correction=0) - 1).abs().max() < 1e-3)  # scaled
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
def group_norm_by_batch_norm(x, num_groups, weight=None, bias=None,
                             eps=1e-5):
    """``F.group_norm(x, num_groups, weight, bias, eps)`` through
    ``F.batch_norm``: each (sample, group) becomes one BatchNorm channel,
    then the per-channel affine of GroupNorm is applied.

    >>> gn = nn.GroupNorm(2, 6).double()
    >>> _ = nn.init.normal_(gn.weight), nn.init.normal_(gn.bias)  # "trained"
    >>> x = torch.randn(4, 6, 3, 3, dtype=torch.float64)
    >>> y = group_norm_by_batch_norm(x, 2, gn.weight, gn.bias, gn.eps)
    >>> torch.allclose(y, gn(x))
    True
    >>> group_norm_by_batch_norm(x, 4)
    Traceback (most recent call last):
    ...
    ValueError: num_groups (4) must divide the 6 channels
    """
    if x.dim() < 2:
        raise ValueError(f"expected (N, C, *) input, got {x.dim()}-D")
    if x.shape[1] % num_groups:
        raise ValueError(f"num_groups ({num_groups}) must divide the "
                         f"{x.shape[1]} channels")
    n, c = x.shape[:2]
    y = x.reshape(1, n * num_groups, -1)  # (1, N*G, C/G * H * W)
    if y.shape[-1] == 1:  # F.group_norm gives 0 * weight + bias there
        raise ValueError("each group holds a single value: not supported")
    y = F.batch_norm(y, None, None, training=True, eps=eps).reshape(x.shape)
    per_channel = (1, c) + (1,) * (x.dim() - 2)
    if weight is not None:
        y = y * weight.reshape(per_channel)
    if bias is not None:
        y = y + bias.reshape(per_channel)
    return y
# --8<-- [end:reshape]
