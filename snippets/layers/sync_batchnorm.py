"""Synchronized batch normalization from scratch: the statistics of the
global batch, gathered from every process of a ``torch.distributed`` group
with one all-reduce in the forward pass and one in the backward pass.

``SyncBatchNorm`` takes ``nn.SyncBatchNorm``'s arguments and behaves like
it (``tests/test_practice_distributed.py`` checks, in real gloo processes,
that it computes what single-process BatchNorm computes on the whole
global batch, on every option). Unlike ``nn.SyncBatchNorm`` in the pinned
PyTorch, it runs on CPU tensors, so with the gloo backend. Like it:

- statistics are synchronized in training mode only; in eval mode a layer
  with running statistics uses them, and one without uses this process's
  own batch;
- without an initialized process group (or with one process) it is plain
  batch normalization;
- the weight and bias gradients are this process's own share:
  ``DistributedDataParallel`` sums them over processes (and divides by
  their number) as it does for every parameter;
- every process of the group must call forward, and backward, together.

It refuses float16 and bfloat16 inputs (``ValueError``): convert them, or
the layer, to float32 first.

>>> x = torch.randn(6, 3, 4, 4)
>>> ours, theirs = SyncBatchNorm(3), nn.SyncBatchNorm(3)
>>> torch.allclose(ours(x), theirs(x), atol=1e-6)  # one process
True
"""

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import once_differentiable

from snippets.layers.batchnorm import LOW_PRECISION, BatchNorm


def _all_reduce(tensor, group):
    """Sum ``tensor`` over the processes of ``group`` (None: no group)."""
    if group is not None:
        dist.all_reduce(tensor, group=group)
    return tensor


# --8<-- [start:function]
class SyncBatchNormFunction(torch.autograd.Function):
    """Batch normalization with the statistics of the global batch."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, group):
        dims = [0] + list(range(2, x.dim()))  # every dim but channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # (C,) broadcast over x
        c = x.size(1)
        # Count, sum and sum of squares of this process's values, in
        # float64: var = E[x^2] - E[x]^2 loses digits in float32.
        x64 = x.double()
        stats = torch.cat([x64.new_tensor([x.numel() // c]),
                           x64.sum(dims), x64.square().sum(dims)])
        stats = _all_reduce(stats, group)  # sums over every process
        n, total, squares = stats[0], stats[1:c + 1], stats[c + 1:]
        if n <= 1:
            raise ValueError("Expected more than 1 value per channel when "
                             f"training, got {int(n)} over all processes")
        mean = total / n
        var = (squares / n - mean.square()).clamp(min=0)  # biased
        inv_std = torch.rsqrt(var + eps).to(x.dtype)
        x_hat = (x - mean.to(x.dtype).view(shape)) * inv_std.view(shape)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.dims, ctx.shape, ctx.n, ctx.group = dims, shape, n, group
        y = x_hat if weight is None else x_hat * weight.view(shape)
        y = y if bias is None else y + bias.view(shape)
        ctx.mark_non_differentiable(mean, var, n)
        return y, mean, var, n  # and the global statistics, for buffers

    @staticmethod
    @once_differentiable  # first-order only: a second derivative raises
    def backward(ctx, grad_y, *_):  # no gradient for the statistics
        x_hat, inv_std, weight = ctx.saved_tensors
        dims, shape, n = ctx.dims, ctx.shape, ctx.n
        sum_g = grad_y.sum(dims)             # this process's share of
        sum_gx = (grad_y * x_hat).sum(dims)  # the two sums below
        grad_x = None
        if ctx.needs_input_grad[0]:
            # Each x moves the global mean and variance, so its gradient
            # needs the sums over every process: a second all-reduce.
            both = _all_reduce(torch.cat([sum_g, sum_gx]).double(),
                               ctx.group).to(grad_y.dtype)
            g_mean = (both[:len(sum_g)] / n).view(shape)
            gx_mean = (both[len(sum_g):] / n).view(shape)
            grad_x = (grad_y - g_mean - x_hat * gx_mean) * inv_std.view(
                shape)
            if weight is not None:
                grad_x = grad_x * weight.view(shape)
        grad_weight = sum_gx if ctx.needs_input_grad[1] else None
        grad_bias = sum_g if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None
# --8<-- [end:function]


# --8<-- [start:module]
class SyncBatchNorm(BatchNorm):
    """``nn.SyncBatchNorm``'s interface; CPU tensors welcome."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def forward(self, x):
        self._check(x)
        if not self.training and self.running_mean is not None:
            return self._with_running_stats(x)  # eval: nothing to sync
        # Batch statistics: over every process in training, over this
        # process's batch in eval (as nn.SyncBatchNorm does).
        group = self._group() if self.training else None
        y, mean, var, n = SyncBatchNormFunction.apply(
            x, self.weight, self.bias, self.eps, group)
        if self.training and self.track_running_stats:
            self._update_running_stats(mean.to(x.dtype), var.to(x.dtype),
                                       n.item())  # unbiased with global n
        return y
# --8<-- [end:module]

    def _with_running_stats(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - self.running_mean.view(shape)) / torch.sqrt(
            self.running_var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        return y if self.bias is None else y + self.bias.view(shape)

    def _group(self):
        """The group to synchronize over, or None for this process alone."""
        if not (dist.is_available() and dist.is_initialized()):
            return None
        group = self.process_group or dist.group.WORLD
        return group if dist.get_world_size(group) > 1 else None

    def _check(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D "
                             "input)")
        if x.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should "
                             "be non-zero")
        batch_statistics = self.training or self.running_mean is None
        if batch_statistics and self.eps <= 0:  # 0 / 0, constant channel
            raise ValueError("batch_norm eps must be positive during "
                             f"training, but got {self.eps}")
        if self.eps < 0:
            raise ValueError("batch_norm eps must be non-negative, but got "
                             f"{self.eps}")
        if x.dtype in LOW_PRECISION:
            raise ValueError(f"this SyncBatchNorm computes in the input's "
                             f"dtype and does not support {x.dtype}: "
                             "convert the input and the layer to float32")
        own = {t.dtype for t in (self.weight, self.bias, self.running_mean,
                                 self.running_var) if t is not None}
        if own and own != {x.dtype}:
            raise ValueError(f"a {x.dtype} input for a layer in "
                             f"{sorted(map(str, own))}: use one dtype")

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``nn.SyncBatchNorm.convert_sync_batchnorm`` with this class:
        every ``torch.nn`` BatchNorm layer of ``module`` replaced by one
        sharing its parameters and buffers."""
        converted = module
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            converted = cls(module.num_features, module.eps,
                            module.momentum, module.affine,
                            module.track_running_stats, process_group,
                            bias=module.bias is not None)
            converted.weight, converted.bias = module.weight, module.bias
            converted.running_mean = module.running_mean
            converted.running_var = module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
            converted.training = module.training
            if hasattr(module, "qconfig"):  # as torch's: quantization
                converted.qconfig = module.qconfig
        for name, child in module.named_children():
            converted.add_module(
                name, cls.convert_sync_batchnorm(child, process_group))
        return converted
