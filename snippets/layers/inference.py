"""Inference-time helpers the pages show: freezing BatchNorm statistics for
fine-tuning, and folding BatchNorm into the convolution before it.

"BatchNorm layers" here are torch.nn's: every subclass of
``nn.modules.batchnorm._BatchNorm`` (``BatchNorm1d/2d/3d``, their
``Lazy`` versions, ``SyncBatchNorm``), as PyTorch's own utilities find
them. InstanceNorm layers and the from-scratch ``BatchNorm`` of
``snippets/layers/batchnorm.py`` are not touched.
"""

import copy
from functools import partial

import torch
from torch import nn

BATCHNORMS = nn.modules.batchnorm._BatchNorm
CONVS = nn.modules.conv._ConvNd  # Conv1d/2d/3d and ConvTranspose1d/2d/3d


# --8<-- [start:freeze]
def _stay_in_eval(layer, mode=True):
    return layer  # ignore train(): keep the running statistics fixed


def _refuse_reset(layer):  # update_bn() would reset, then not recompute
    raise ValueError("the running statistics are frozen: call "
                     "unfreeze_batchnorm_statistics(model) first")


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
    layers = [(name, layer) for name, layer in model.named_modules()
              if isinstance(layer, BATCHNORMS)]
    for name, layer in layers:
        if layer.running_mean is None or layer.running_var is None:
            raise ValueError(f"BatchNorm '{name}' has no running statistics "
                             "(track_running_stats=False): it uses batch "
                             "statistics in eval mode too, nothing to freeze")
        if nn.parameter.is_lazy(layer.running_mean):
            raise ValueError(f"lazy BatchNorm '{name}' has no statistics yet:"
                             " run one forward pass before freezing it")
    for _, layer in layers:
        layer.eval()
        # Instance attributes shadow nn.Module's methods; partial objects,
        # unlike bound methods, survive torch.save and torch.load.
        layer.train = partial(_stay_in_eval, layer)
        layer.reset_running_stats = partial(_refuse_reset, layer)
    return model


def unfreeze_batchnorm_statistics(model):
    for layer in model.modules():
        for name in ("train", "reset_running_stats"):
            if isinstance(layer, BATCHNORMS) and name in vars(layer):
                delattr(layer, name)  # back to nn.Module's own method
    return model
# --8<-- [end:freeze]


# --8<-- [start:fold]
@torch.no_grad()
def fold_conv_bn(conv, bn):
    """A copy of ``conv`` (any Conv or ConvTranspose, 1d to 3d) computing
    ``bn(conv(x))`` for a BatchNorm in eval mode with running statistics.

    With s = weight / sqrt(running_var + eps), per output channel:
    W' = W * s and b' = (b - running_mean) * s + bias.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("this BatchNorm has no running statistics "
                         "(track_running_stats=False): nothing to fold")
    if bn.training:
        raise ValueError("a BatchNorm in training mode uses batch "
                         "statistics: call model.eval() before folding")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"{conv.out_channels} output channels, but a "
                         f"BatchNorm of {bn.num_features} features")
    transposed = isinstance(conv, nn.modules.conv._ConvTransposeNd)
    if transposed and conv.groups != 1:
        raise ValueError("folding into a grouped ConvTranspose (groups="
                         f"{conv.groups}) is not supported")
    ones = torch.ones_like(bn.running_var)
    gamma = ones if bn.weight is None else bn.weight  # affine=False: 1
    beta = 0 * ones if bn.bias is None else bn.bias   # no bias: 0
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    fused = copy.deepcopy(conv)  # keeps padding_mode, dtype, device...
    shape = [1] * conv.weight.dim()
    shape[1 if transposed else 0] = -1  # the weight's output-channel axis
    fused.weight.copy_(conv.weight * scale.view(shape))
    conv_bias = 0 * ones if conv.bias is None else conv.bias
    fused.bias = nn.Parameter(((conv_bias - bn.running_mean) * scale + beta)
                              .to(conv.weight.dtype))
    return fused
# --8<-- [end:fold]


def fold_model(model):
    """A folded copy of an ``nn.Sequential``, for inference: each
    convolution directly followed by a BatchNorm layer becomes one
    convolution, also inside nested ``nn.Sequential`` blocks. Layer names
    are kept; ``model`` itself is not changed. (For models that are not
    ``nn.Sequential``, ``torch.fx.experimental.optimization.fuse`` folds
    through the traced graph.)

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    >>> fold_model(net.eval())
    Sequential(
      (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
      (2): ReLU()
    )
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"fold_model folds an nn.Sequential, not a "
                         f"{type(model).__name__}: see its docstring")
    return _fold(copy.deepcopy(model)).eval()  # the copy is ours to change


def _fold(sequential):
    children = list(sequential.named_children())
    folded, i = nn.Sequential(), 0
    while i < len(children):
        name, layer = children[i]
        after = children[i + 1][1] if i + 1 < len(children) else None
        if isinstance(layer, CONVS) and isinstance(after, BATCHNORMS):
            folded.add_module(name, fold_conv_bn(layer, after))
            i += 2  # one layer for two
        else:
            folded.add_module(name, _fold(layer) if isinstance(
                layer, nn.Sequential) else layer)
            i += 1
    return folded
