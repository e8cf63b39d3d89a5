"""Inference-time helpers the pages show: freezing BatchNorm statistics for
fine-tuning, and folding BatchNorm into the convolution before it."""

import torch
from torch import nn

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


# --8<-- [start:freeze]
def _stay_in_eval(self, mode=True):
    return self  # ignore train(): keep the running statistics fixed


def freeze_batchnorm_statistics(model):
    """Put every BatchNorm layer of ``model`` in eval mode and keep it
    there through later ``model.train()`` calls (which would otherwise
    switch it back); the rest of the model keeps its mode.

    >>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> _ = freeze_batchnorm_statistics(model).train()
    >>> model.training, model[1].training
    (True, False)
    >>> _ = unfreeze_batchnorm_statistics(model).train()
    >>> model[1].training
    True
    """
    for module in model.modules():
        if isinstance(module, BATCHNORMS):
            module.eval()
            module.train = _stay_in_eval.__get__(module)
    return model


def unfreeze_batchnorm_statistics(model):
    for module in model.modules():
        if isinstance(module, BATCHNORMS) and "train" in vars(module):
            del module.train  # back to nn.Module.train
    return model
# --8<-- [end:freeze]


# --8<-- [start:fold]
@torch.no_grad()
def fold_conv_bn(conv, bn):
    """A Conv2d computing ``bn(conv(x))`` for a BatchNorm2d in eval mode.

    With s = weight / sqrt(running_var + eps), per output channel:
    W' = W * s and b' = (b - running_mean) * s + bias.
    """
    if bn.training or bn.running_mean is None:
        raise ValueError("only a BatchNorm in eval mode with running "
                         "statistics can be folded: call model.eval()")
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                      stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, groups=conv.groups, bias=True)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else \
        torch.zeros_like(bn.running_mean)
    fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
    return fused
# --8<-- [end:fold]


def fold_model(model):
    """A copy of an ``nn.Sequential`` with each Conv2d + BatchNorm2d pair
    replaced by one folded Conv2d (for inference only).

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    >>> fold_model(net.eval())
    Sequential(
      (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
      (1): ReLU()
    )
    """
    layers, modules = [], list(model)
    i = 0
    while i < len(modules):
        if (isinstance(modules[i], nn.Conv2d) and i + 1 < len(modules)
                and isinstance(modules[i + 1], nn.BatchNorm2d)):
            layers.append(fold_conv_bn(modules[i], modules[i + 1]))
            i += 2
        else:
            layers.append(modules[i])
            i += 1
    return nn.Sequential(*layers).eval()
