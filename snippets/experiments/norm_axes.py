"""Which input elements share one mean and variance, found by asking the
real module: nudge one element and see which outputs move.

Every table and figure about normalization axes on the site is computed
with these functions, so they describe what PyTorch does, not what we
believe it does.
"""

import copy
import itertools

import torch
from torch import nn

# Layers whose affine part the probe neutralizes (_NormBase covers every
# BatchNorm and InstanceNorm, lazy and synchronized ones included).
NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
         nn.RMSNorm)


def probe_copy(layer):
    """A float64 copy of ``layer`` with every weight 1 and bias 0.

    The copy leaves the layer and its running statistics untouched; the
    affine part does not decide which elements share statistics, and a
    zero weight (a ResNet's zero-initialized last BatchNorm) would hide
    them all; float64 keeps the nudge of one element in a group of
    millions far above rounding.
    """
    if not isinstance(layer, nn.Module):
        raise TypeError(f"probe an nn.Module, not {type(layer).__name__}")
    probe = copy.deepcopy(layer).double()
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, NORMS):
                for name, value in (("weight", 1.0), ("bias", 0.0)):
                    if getattr(module, name, None) is not None:
                        getattr(module, name).fill_(value)
    return probe


# --8<-- [start:probe]
@torch.no_grad()
def shares_statistics(layer, x, index, copied=False):
    """Boolean mask of the elements that ``layer`` normalizes with the
    same statistics as ``x[index]``: nudging that element moves their
    mean or variance, so their outputs change; every other output stays
    put. Runs a float64 copy (``probe_copy``; ``copied=True`` if
    ``layer`` is one already) in the layer's own mode.

    >>> x = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    >>> shares_statistics(nn.BatchNorm1d(2), x, (0, 0)).int()
    tensor([[1, 0],
            [1, 0],
            [1, 0]], dtype=torch.int32)
    >>> shares_statistics(nn.LayerNorm(2), x, (0, 0)).int()
    tensor([[1, 1],
            [0, 0],
            [0, 0]], dtype=torch.int32)
    """
    probe = layer if copied else probe_copy(layer)
    x = x.double()
    before = probe(x)
    tolerance = 1e-9 * before.abs().max()  # float64 rounding: ~1e-16
    changed = torch.zeros(x.shape, dtype=torch.bool)
    for nudge in (1.0, -2.0):  # two sizes: no output stays put by chance
        nudged = x.clone()
        nudged[index] += nudge
        changed |= (probe(nudged) - before).abs() > tolerance
    changed[index] = True
    return changed
# --8<-- [end:probe]


def statistics_groups(layer, x):
    """Label every element of ``x`` with the id of its statistics group.

    >>> labels = statistics_groups(nn.GroupNorm(2, 4), torch.randn(1, 4, 3))
    >>> labels.unique().tolist()
    [0, 1]

    Groups must not overlap, which rules out layers that are not
    normalization layers:

    >>> conv = nn.Conv1d(1, 1, 3, padding=1)
    >>> statistics_groups(conv, torch.randn(1, 1, 6))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: element (0, 0, 2) moves outputs of another group: Conv1d ...
    """
    probe = probe_copy(layer)  # one copy for every element
    labels = torch.full(x.shape, -1, dtype=torch.long)
    for index in itertools.product(*(range(s) for s in x.shape)):
        if labels[index] >= 0:
            continue
        mask = shares_statistics(probe, x, index, copied=True)
        if (labels[mask] >= 0).any():
            raise ValueError(
                f"element {index} moves outputs of another group: "
                f"{type(layer).__name__} does not normalize over groups "
                "of elements")
        labels[mask] = int(labels.max()) + 1
    return labels


def reduced_axes(mask, names):
    """Describe which axes the group in ``mask`` spans.

    >>> mask = torch.zeros(2, 4, 3, dtype=torch.bool)
    >>> mask[0, :2, :] = True
    >>> reduced_axes(mask, ["N", "C", "L"])
    'C (2 of 4), L'
    """
    parts = []
    for axis, name in enumerate(names):
        spanned = mask.any(dim=[d for d in range(mask.dim()) if d != axis])
        count = int(spanned.sum())
        if count == mask.shape[axis] and count > 1:
            parts.append(name)
        elif count > 1:
            parts.append(f"{name} ({count} of {mask.shape[axis]})")
    return ", ".join(parts) or "nothing"


# --8<-- [start:tokens]
class TokenBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` for ``(N, L, C)`` tokens: every option of
    BatchNorm1d, applied to ``x.transpose(1, 2)`` and transposed back, so
    each feature is normalized over the batch and the positions.

    >>> TokenBatchNorm1d(16)(torch.randn(4, 10, 16)).shape
    torch.Size([4, 10, 16])
    >>> TokenBatchNorm1d(16)(torch.randn(4, 16))
    Traceback (most recent call last):
    ...
    ValueError: TokenBatchNorm1d expects (N, L, C) tokens, got a 2-D input
    """

    def forward(self, x):
        if x.dim() != 3:
            raise ValueError("TokenBatchNorm1d expects (N, L, C) tokens, "
                             f"got a {x.dim()}-D input")
        return super().forward(x.transpose(1, 2)).transpose(1, 2)
# --8<-- [end:tokens]
