"""Answers to the exercises on the practice page, checked by doctest."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from snippets.experiments.resnet import parameter_groups
from snippets.layers.small_batch import GhostBatchNorm


# --8<-- [start:global_mean]
def global_statistics():
    """Two processes hold 3 and 5 values of one channel, with means 1 and
    3 and biased variances 1 and 1. The global mean weights each process
    by its count: (3 * 1 + 5 * 3) / 8 = 2.25, not (1 + 3) / 2 = 2. The
    global variance adds the spread of the two means around it.

    >>> a = torch.tensor([0.0, 1.0, 2.0]) * 1.5 ** 0.5 - 1.5 ** 0.5 + 1
    >>> b = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]) / 2 ** 0.5 + 3
    >>> [round(t.var(correction=0).item(), 6) for t in (a, b)]
    [1.0, 1.0]
    >>> both = torch.cat([a, b])
    >>> round(both.mean().item(), 6), round(both.var(correction=0).item(), 6)
    (2.25, 1.9375)
    >>> n = torch.tensor([3.0, 5.0])
    >>> mean = (n * torch.tensor([1.0, 3.0])).sum() / n.sum()
    >>> var = (n * (1 + (torch.tensor([1.0, 3.0]) - mean) ** 2)).sum() / n.sum()
    >>> round(mean.item(), 6), round(var.item(), 6)
    (2.25, 1.9375)
    """
# --8<-- [end:global_mean]


# --8<-- [start:ghost]
def accumulation_as_ghost(micro=4, steps=8):
    """Accumulating ``steps`` micro-batches of ``micro`` through a
    BatchNorm1d layer computes GhostBatchNorm with virtual_batch_size =
    ``micro`` on the whole batch: the same gradients (weight, bias and
    input) and the same running statistics.

    >>> accumulation_as_ghost()
    True
    """
    torch.manual_seed(0)
    x = torch.randn(micro * steps, 3, dtype=torch.float64)
    x_ghost = x.clone().requires_grad_()
    x.requires_grad_()
    weights = torch.randn(3, dtype=torch.float64)
    bn = nn.BatchNorm1d(3).double()
    ghost = GhostBatchNorm(3, virtual_batch_size=micro).double()
    for part in x.split(micro):  # accumulated, micro-batch by micro-batch
        (bn(part) * weights).sum().backward()
    (ghost(x_ghost) * weights).sum().backward()
    pairs = [(bn.weight.grad, ghost.weight.grad),
             (bn.bias.grad, ghost.bias.grad), (x.grad, x_ghost.grad),
             (bn.running_mean, ghost.running_mean),
             (bn.running_var, ghost.running_var)]
    return all(torch.allclose(a, b) for a, b in pairs)
# --8<-- [end:ghost]


# --8<-- [start:last]
def last_batch(size=50_000, batch_size=64):
    """How many samples the last batch holds, and how many batches
    DataLoader gives with and without drop_last.

    >>> last_batch()
    (16, 782, 781)
    """
    data = TensorDataset(torch.zeros(size, 1))
    return (size % batch_size, len(DataLoader(data, batch_size)),
            len(DataLoader(data, batch_size, drop_last=True)))
# --8<-- [end:last]


# --8<-- [start:groups]
def no_decay_parameters():
    """Which parameters escape weight decay in a small MLP: the BatchNorm
    weight and bias, and every bias.

    >>> no_decay_parameters()
    ['0.bias', '1.weight', '1.bias', '3.bias']
    """
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Linear(8, 2))
    names = {id(p): name for name, p in model.named_parameters()}
    _, no_decay = parameter_groups(model, weight_decay=1e-4)
    return [names[id(p)] for p in no_decay["params"]]
# --8<-- [end:groups]
