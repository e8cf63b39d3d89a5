"""Batch normalization from scratch, a twin of ``nn.BatchNorm1d/2d/3d``.

``tests/test_batchnorm.py`` checks it against ``torch.nn`` (outputs,
gradients and every buffer, over training steps and then eval), and the
hand-derived backward of ``batch_norm_manual`` with ``gradcheck``.

>>> import torch
>>> x = torch.tensor([[0.23, 1.26, -2.41], [0.56, 0.75, 1.00]])
>>> ours, theirs = BatchNorm(3), torch.nn.BatchNorm1d(3)
>>> torch.allclose(ours(x), theirs(x))
True
"""

import torch
from torch import nn

# --8<-- [start:tolerance]
# How close "equal to torch.nn" must be in tests/test_batchnorm.py.
TOLERANCE = {torch.float64: dict(rtol=1e-10, atol=1e-12),
             torch.float32: dict(rtol=1e-4, atol=1e-5)}
# --8<-- [end:tolerance]


# --8<-- [start:init]
class BatchNorm(nn.Module):
    """Batch normalization over dim 1 of (N, C, *) inputs."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum  # None: cumulative average of all batches
        self.affine = affine
        self.track_running_stats = track_running_stats
        # gamma (weight) and beta (bias) start as the identity transform;
        # bias=False keeps the scale but drops the shift.
        self.register_parameter("weight", nn.Parameter(
            torch.ones(num_features)) if affine else None)
        self.register_parameter("bias", nn.Parameter(
            torch.zeros(num_features)) if affine and bias else None)
        if track_running_stats:  # buffers: saved in state_dict, not trained
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked",
                                 torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
# --8<-- [end:init]

    # --8<-- [start:forward]
    def forward(self, x):
        if not 2 <= x.dim() <= 5:
            raise ValueError(f"expected 2D to 5D input (got {x.dim()}D input)")
        dims = [0] + list(range(2, x.dim()))  # every dim except channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast (C,) over x
        # Batch statistics in training, and in eval too without buffers.
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            n = x.numel() // x.size(1)  # values per channel
            if n <= 1:
                raise ValueError("Expected more than 1 value per channel "
                                 f"when training, got input size {x.size()}")
            if self.eps <= 0:  # a constant channel would give 0 / 0
                raise ValueError("batch_norm eps must be positive during "
                                 f"training, but got {self.eps}")
            mean = x.mean(dims)
            var = x.var(dims, correction=0)  # biased: divide by n
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            if self.eps < 0:
                raise ValueError("batch_norm eps must be non-negative, "
                                 f"but got {self.eps}")
            mean, var = self.running_mean, self.running_var
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y
    # --8<-- [end:forward]

    # --8<-- [start:running]
    @torch.no_grad()
    def _update_running_stats(self, mean, var, n):
        self.num_batches_tracked += 1
        if self.momentum is None:  # equal weight for every batch so far
            factor = 1.0 / self.num_batches_tracked.item()
        else:
            factor = self.momentum
        # running_var estimates the population variance: unbiased, n - 1.
        unbiased = var * n / (n - 1)
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
    # --8<-- [end:running]

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


# --8<-- [start:manual]
class BatchNormFunction(torch.autograd.Function):
    """Training-mode batch norm with a hand-derived backward pass."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dims, keepdim=True)
        inv_std = torch.rsqrt(x.var(dims, correction=0, keepdim=True) + eps)
        x_hat = (x - mean) * inv_std
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.dims, ctx.shape = dims, shape
        return x_hat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx, grad_out):
        x_hat, inv_std, weight = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        m = x_hat.numel() // x_hat.size(1)  # values per channel
        grad_bias = grad_out.sum(dims)
        grad_weight = (grad_out * x_hat).sum(dims)
        g = grad_out * weight.view(shape)  # gradient w.r.t. x_hat
        # dx = inv_std / m * (m g - sum(g) - x_hat * sum(g x_hat))
        grad_x = inv_std / m * (
            m * g - g.sum(dims, keepdim=True)
            - x_hat * (g * x_hat).sum(dims, keepdim=True))
        return grad_x, grad_weight, grad_bias, None


def batch_norm_manual(x, weight, bias, eps=1e-5):
    """Normalize ``x`` with batch statistics; backward by the closed form.

    >>> x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    >>> w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(batch_norm_manual, (x, w, b))
    True
    """
    return BatchNormFunction.apply(x, weight, bias, eps)
# --8<-- [end:manual]
