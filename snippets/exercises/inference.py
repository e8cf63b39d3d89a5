"""Answers to the exercises on the inference page, checked by doctest."""

# The imports marked noqa are used by the doctests alone.
import torch
from torch import nn

from snippets.layers.inference import fold_conv_bn  # noqa: F401


# --8<-- [start:warmup]
def batches_until(target=0.9, momentum=0.1):
    """Batches, all with mean 1, until running_mean (from 0) exceeds
    ``target``: 1 - (1 - momentum)^k > target.

    >>> batches_until(0.9, momentum=0.1)
    22
    >>> batches_until(0.9, momentum=0.01)
    230
    """
    bn = nn.BatchNorm1d(1, momentum=momentum)
    x = torch.tensor([[0.0], [2.0]])  # mean 1
    k = 0
    while bn.running_mean.item() <= target:
        bn(x)
        k += 1
    return k
# --8<-- [end:warmup]


# --8<-- [start:single]
def single_image_in_train_mode():
    """One (1, 3, 32, 32) image through BatchNorm2d left in train mode:
    no error (32 * 32 values per channel), but each channel is normalized
    with that image's own statistics, not the running ones.

    >>> bn = nn.BatchNorm2d(3)
    >>> bn.running_mean.fill_(5.0)  # as if trained on brighter images
    tensor([5., 5., 5.])
    >>> x = torch.full((1, 3, 32, 32), 5.0) + torch.randn(1, 3, 32, 32)
    >>> train_out, eval_out = bn(x), bn.eval()(x)
    >>> bool(train_out.mean().abs() < 1e-5)   # centred on itself
    True
    >>> bool(torch.allclose(train_out, eval_out))
    False
    """
# --8<-- [end:single]


# --8<-- [start:keras]
def keras_to_pytorch(keras_momentum):
    """PyTorch's momentum is the weight of the new batch.

    >>> keras_to_pytorch(0.99)
    0.01
    """
    return round(1 - keras_momentum, 10)
# --8<-- [end:keras]


# --8<-- [start:restore]
def restore_running_statistics():
    """Running statistics are in the state_dict: reload a saved one.

    >>> model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    >>> saved = {k: v.clone() for k, v in model.state_dict().items()}
    >>> _ = model(torch.randn(8, 2) + 3)   # train mode: buffers move
    >>> model.load_state_dict(saved)
    <All keys matched successfully>
    >>> model[1].running_mean, model[1].num_batches_tracked
    (tensor([0., 0.]), tensor(0))
    """
# --8<-- [end:restore]


# --8<-- [start:fold]
def fold_by_hand():
    """Conv weight 2 (no bias), then BN with running_mean 1, running_var 3,
    eps 1, weight 4, bias 5: s = 4 / sqrt(3 + 1) = 2, so W' = 2 * 2 = 4
    and b' = (0 - 1) * 2 + 5 = 3.

    >>> conv = nn.Conv2d(1, 1, 1, bias=False)
    >>> bn = nn.BatchNorm2d(1, eps=1.0).eval()
    >>> with torch.no_grad():
    ...     _ = conv.weight.fill_(2.0), bn.running_mean.fill_(1.0)
    ...     _ = bn.running_var.fill_(3.0), bn.weight.fill_(4.0)
    ...     _ = bn.bias.fill_(5.0)
    >>> fused = fold_conv_bn(conv, bn)
    >>> fused.weight.item(), fused.bias.item()
    (4.0, 3.0)
    """
# --8<-- [end:fold]
