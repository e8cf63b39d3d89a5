"""The small models the examples train on Fashion-MNIST.

Each builder takes a ``norm`` argument so that one definition serves every
comparison (with and without BatchNorm, or another normalization layer).
"""

from torch import nn


def no_norm(num_features):
    """Stand-in for a normalization layer: does nothing."""
    return nn.Identity()


def bias_before(norm):
    """Whether the layer before ``norm`` needs a bias: not before
    BatchNorm, which subtracts each channel's mean (and so the bias);
    other normalizations do not cancel a per-channel bias.

    >>> bias_before(nn.BatchNorm2d), bias_before(no_norm)
    (False, True)
    """
    return norm not in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


# --8<-- [start:mlp]
def mlp(num_inputs=784, hidden=(128, 64), num_classes=10,
        norm=nn.BatchNorm1d):
    """Linear -> norm -> ReLU per hidden layer, then a Linear classifier.

    >>> mlp(hidden=(8,))
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=784, out_features=8, bias=False)
      (2): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, bias=True,
                       track_running_stats=True)
      (3): ReLU()
      (4): Linear(in_features=8, out_features=10, bias=True)
    )
    """
    layers, width = [nn.Flatten()], num_inputs
    for size in hidden:
        layers += [nn.Linear(width, size, bias=bias_before(norm)),
                   norm(size),
                   nn.ReLU()]
        width = size
    layers = [layer for layer in layers if not isinstance(layer, nn.Identity)]
    return nn.Sequential(*layers, nn.Linear(width, num_classes))
# --8<-- [end:mlp]


# --8<-- [start:cnn]
def small_cnn(channels=(16, 32), num_classes=10, norm=nn.BatchNorm2d):
    """Two conv blocks (conv -> norm -> ReLU -> max-pool) and a classifier,
    for 28 x 28 grey images.

    >>> import torch
    >>> small_cnn()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    layers, width = [], 1
    for size in channels:
        layers += [nn.Conv2d(width, size, 3, padding=1,
                             bias=bias_before(norm)),
                   norm(size), nn.ReLU(), nn.MaxPool2d(2)]
        width = size
    layers = [layer for layer in layers if not isinstance(layer, nn.Identity)]
    return nn.Sequential(*layers, nn.Flatten(),
                         nn.Linear(width * 7 * 7, num_classes))
# --8<-- [end:cnn]
