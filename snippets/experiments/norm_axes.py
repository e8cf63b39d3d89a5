"""Which input elements share one mean and variance, found by asking the
real module: nudge one element and see which outputs move.

Every table and figure about normalization axes on the site is computed
with these functions, so they describe what PyTorch does, not what we
believe it does.
"""

import itertools

import torch


# --8<-- [start:probe]
@torch.no_grad()
def shares_statistics(layer, x, index, nudge=1.0):
    """Boolean mask of the elements normalized with the same statistics
    as ``x[index]``: nudging that element moves their mean or variance,
    so their outputs change; every other output stays put.

    >>> from torch import nn
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
    before = layer(x)
    nudged = x.clone()
    nudged[index] += nudge
    changed = (layer(nudged) - before).abs() > 1e-6
    changed[index] = True
    return changed
# --8<-- [end:probe]


def statistics_groups(layer, x):
    """Label every element of ``x`` with the id of its statistics group.

    >>> from torch import nn
    >>> labels = statistics_groups(nn.GroupNorm(2, 4), torch.randn(1, 4, 3))
    >>> labels.unique().tolist()
    [0, 1]
    """
    labels = torch.full(x.shape, -1, dtype=torch.long)
    group = 0
    for index in itertools.product(*(range(s) for s in x.shape)):
        if labels[index] >= 0:
            continue
        labels[shares_statistics(layer, x, index)] = group
        group += 1
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
