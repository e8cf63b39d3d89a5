"""Batch normalization from scratch: ``BatchNorm``, one class for what
``torch.nn`` splits into ``BatchNorm1d``, ``2d`` and ``3d``, and
``batch_norm_manual``, training-mode batch norm with a hand-derived
backward pass.

``tests/test_batchnorm.py`` checks both against ``torch.nn`` (outputs,
gradients and every buffer, over training steps and then eval, on every
constructor option), and the hand-derived backward with ``gradcheck``.

What differs from ``torch.nn``, on purpose or by necessity:

- one class accepts every rank from 2D to 5D (``torch.nn``'s three
  classes each check their own);
- it is not a subclass of ``torch.nn.modules.batchnorm._BatchNorm``, so
  PyTorch utilities that find BatchNorm layers by class
  (``torch.optim.swa_utils.update_bn``,
  ``nn.SyncBatchNorm.convert_sync_batchnorm``) pass it by.

>>> import torch
>>> x = torch.tensor([[0.23, 1.26, -2.41], [0.56, 0.75, 1.00]])
>>> ours, theirs = BatchNorm(3), torch.nn.BatchNorm1d(3)
>>> torch.allclose(ours(x), theirs(x))
True
"""

import torch
from torch import nn
from torch.autograd.function import once_differentiable

# --8<-- [start:tolerance]
# How close "equal to torch.nn" must be in tests/test_batchnorm.py.
TOLERANCE = {torch.float64: dict(rtol=1e-10, atol=1e-12),
             torch.float32: dict(rtol=1e-4, atol=1e-5)}
# --8<-- [end:tolerance]

# Inputs that torch.nn normalizes in float32 (and returns in their dtype).
LOW_PRECISION = (torch.float16, torch.bfloat16)


# --8<-- [start:init]
class BatchNorm(nn.Module):
    """Batch normalization over dim 1 of (N, C, *) inputs, 2D to 5D."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *,
                 bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum  # None: cumulative average of all batches
        self.affine = affine
        self.track_running_stats = track_running_stats
        new = dict(device=device, dtype=dtype)  # for every tensor below
        # gamma (weight) and beta (bias) start as the identity transform;
        # bias=False keeps the scale but drops the shift.
        self.register_parameter("weight", nn.Parameter(
            torch.ones(num_features, **new)) if affine else None)
        self.register_parameter("bias", nn.Parameter(
            torch.zeros(num_features, **new)) if affine and bias else None)
        if track_running_stats:  # buffers: saved in state_dict, not trained
            self.register_buffer("running_mean",
                                 torch.zeros(num_features, **new))
            self.register_buffer("running_var",
                                 torch.ones(num_features, **new))
            self.register_buffer("num_batches_tracked", torch.tensor(
                0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
# --8<-- [end:init]

    # Version 2 of torch.nn's layers added num_batches_tracked: an older
    # state dict without it still loads, the count starting from 0.
    _version = 2

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              *args, **kwargs):
        key = prefix + "num_batches_tracked"
        version = local_metadata.get("version")
        if (version is None or version < 2) and self.track_running_stats \
                and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        with torch.no_grad():
            if self.weight is not None:
                self.weight.fill_(1)
            if self.bias is not None:
                self.bias.zero_()

    # --8<-- [start:forward]
    def forward(self, x):
        self._check_input(x)  # rank and dtype, as torch.nn checks them
        dims = [0] + list(range(2, x.dim()))  # every dim except channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast (C,) over x
        # Batch statistics in training, and in eval when there are no
        # buffers (torch.nn looks at the buffers here, not at the flag).
        use_batch = self.training or (self.running_mean is None
                                      and self.running_var is None)
        # float16 and bfloat16 inputs are computed in float32, as in nn.
        y = x.float() if x.dtype in LOW_PRECISION else x
        if use_batch:
            n = x.numel() // x.size(1)  # values per channel
            if n == 0:
                return self._empty(x)
            if n == 1:
                raise ValueError("Expected more than 1 value per channel "
                                 f"when training, got input size {x.size()}")
            if self.eps <= 0:  # a constant channel would give 0 / 0
                raise ValueError("batch_norm eps must be positive during "
                                 f"training, but got {self.eps}")
            mean = y.mean(dims)
            var = y.var(dims, correction=0)  # biased: divide by n
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            if self.eps < 0:
                raise ValueError("batch_norm eps must be non-negative, "
                                 f"but got {self.eps}")
            mean, var = self.running_mean, self.running_var
        y = (y - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y.to(x.dtype)
    # --8<-- [end:forward]

    def _check_input(self, x):
        """The inputs torch.nn refuses: a rank outside 2D-5D, and dtypes
        mixed other than a float16/bfloat16 input with float32 layer."""
        if not 2 <= x.dim() <= 5:
            raise ValueError(f"expected 2D to 5D input (got {x.dim()}D "
                             "input)")
        own = {t.dtype for t in (self.weight, self.bias, self.running_mean,
                                 self.running_var) if t is not None}
        if own and own != {x.dtype} and not (
                x.dtype in LOW_PRECISION and own == {torch.float32}):
            raise RuntimeError(f"mixed dtype: a {x.dtype} input for a "
                               f"layer in {sorted(map(str, own))} (torch.nn "
                               "refuses it too)")

    # --8<-- [start:running]
    @torch.no_grad()
    def _update_running_stats(self, mean, var, n):
        if self.running_mean is None:  # tracking switched on after init:
            return                     # torch.nn has nothing to update
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

    def _empty(self, x):
        """An empty batch in training: torch.nn returns an empty output,
        counts the batch and leaves the running statistics as they are."""
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked += 1
        return torch.empty_like(x)

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
        y = x_hat if weight is None else x_hat * weight.view(shape)
        return y if bias is None else y + bias.view(shape)

    @staticmethod
    @once_differentiable  # the closed form below is first-order only
    def backward(ctx, grad_out):
        x_hat, inv_std, weight = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        m = x_hat.numel() // x_hat.size(1)  # values per channel
        grad_bias = grad_out.sum(dims) if ctx.needs_input_grad[2] else None
        grad_weight = ((grad_out * x_hat).sum(dims)
                       if ctx.needs_input_grad[1] else None)
        # g: gradient w.r.t. x_hat (weight None is a weight of 1)
        g = grad_out if weight is None else grad_out * weight.view(shape)
        # dx = inv_std / m * (m g - sum(g) - x_hat * sum(g x_hat))
        grad_x = inv_std / m * (
            m * g - g.sum(dims, keepdim=True)
            - x_hat * (g * x_hat).sum(dims, keepdim=True))
        return grad_x, grad_weight, grad_bias, None


def batch_norm_manual(x, weight=None, bias=None, eps=1e-5):
    """``F.batch_norm(x, None, None, weight, bias, training=True,
    eps=eps)`` with the closed-form backward. Its errors too; a second
    derivative (``create_graph=True``, then backward again) raises.

    >>> x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    >>> w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(batch_norm_manual, (x, w, b))
    True
    """
    if x.dim() < 2 or x.numel() // x.size(1) <= 1:
        raise ValueError("Expected more than 1 value per channel when "
                         f"training, got input size {x.size()}")
    if eps <= 0:
        raise ValueError("batch_norm eps must be positive during training, "
                         f"but got {eps}")
    if x.dtype not in (torch.float32, torch.float64) or any(
            t is not None and t.dtype != x.dtype for t in (weight, bias)):
        raise ValueError("batch_norm_manual computes in the input's dtype: "
                         "float32 or float64, with weight and bias in it")
    return BatchNormFunction.apply(x, weight, bias, eps)
# --8<-- [end:manual]
