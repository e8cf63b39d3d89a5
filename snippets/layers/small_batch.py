"""Two answers to BatchNorm's dependence on the batch, from scratch:

- ``BatchRenorm``: Batch Renormalization (Ioffe 2017, Algorithm 1). In
  training, the batch-normalized value is corrected towards what the
  running statistics give, ``x_hat * r + d``, with ``r`` and ``d`` clipped
  to ``[1/r_max, r_max]`` and ``[-d_max, d_max]`` and treated as constants
  by the backward pass. With ``r_max=1, d_max=0`` it is BatchNorm.
- ``GhostBatchNorm``: ghost batch normalization (Hoffer, Hubara & Soudry
  2017): in training, statistics over "virtual" batches of
  ``virtual_batch_size`` consecutive samples, not over the whole batch.
  It computes exactly ``torch.cat([bn(part) for part in
  x.split(virtual_batch_size)])`` for a BatchNorm layer ``bn``, running
  statistics included: with one virtual batch it is BatchNorm.

Both take ``torch.nn``'s BatchNorm arguments, in torch's order
(``GhostBatchNorm`` takes its ``virtual_batch_size`` second, before
them; one class for 2D to 5D input, as ``snippets/layers/batchnorm.py``),
keep the same buffers (their state dicts load into ``nn.BatchNorm2d`` and
back) and, in eval mode,
normalize with the running statistics exactly as BatchNorm does.
``BatchRenorm`` accepts a ``virtual_batch_size`` too: renormalization per
virtual batch, as each replica of a data-parallel run would compute it.

Where ours departs from Ioffe's Algorithm 1: the running estimates are
PyTorch's (``running_var`` averages the unbiased batch variance, and
sigma is ``sqrt(running_var + eps)``), where the paper averages the batch
standard deviation itself; all virtual batches of one forward pass use
the running statistics from before it, and update them one after the
other. ``BatchRenorm`` needs running statistics: it refuses
``track_running_stats=False`` with a ``ValueError``.
"""

import torch

from snippets.layers.batchnorm import LOW_PRECISION, BatchNorm


class _VirtualBatchNorm(BatchNorm):
    """Batch statistics per virtual batch, optionally renormalized."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *,
                 virtual_batch_size=None, r_max=1.0, d_max=0.0, bias=True):
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats, device, dtype, bias=bias)
        self.virtual_batch_size = virtual_batch_size
        self.r_max, self.d_max = r_max, d_max  # may change during training
        self._check_options()

    def _check_options(self):
        size = self.virtual_batch_size
        if size is not None and not (isinstance(size, int) and size >= 1):
            raise ValueError("virtual_batch_size must be a positive number "
                             f"of samples, got {size}")
        if not self.r_max >= 1:
            raise ValueError(f"r_max must be at least 1, got {self.r_max}")
        if not self.d_max >= 0:
            raise ValueError(f"d_max must be at least 0, got {self.d_max}")

    def forward(self, x):
        self._check_input(x)
        self._check_options()
        if not self.training and self.running_mean is not None:
            return super().forward(x)  # running statistics, as BatchNorm
        if self.eps <= 0:
            raise ValueError("batch_norm eps must be positive during "
                             f"training, but got {self.eps}")
        if len(x) == 0:
            return self._empty(x)
        y = x.float() if x.dtype in LOW_PRECISION else x
        size = self.virtual_batch_size or len(x)
        full = len(x) // size * size if size else 0
        parts = ([y[:full].unflatten(0, (-1, size))] if full else []) + (
            [y[full:].unsqueeze(0)] if full < len(x) else [])  # the rest
        if not parts:
            raise ValueError("Expected more than 1 value per channel when "
                             f"training, got input size {x.size()}")
        # Every virtual batch is renormalized towards the running
        # statistics of before this forward pass.
        reference = None
        if self.r_max != 1 or self.d_max != 0:
            reference = (self.running_mean.clone(),
                         torch.sqrt(self.running_var + self.eps))
        out = [self._normalize(part, reference).flatten(0, 1)
               for part in parts]
        return torch.cat(out).to(x.dtype)

    # --8<-- [start:renorm]
    def _normalize(self, x, reference):
        """x: (G, v, C, ...), G virtual batches of v samples each."""
        dims = [1] + list(range(3, x.dim()))  # all but batch and channel
        shape = [x.size(0), 1, -1] + [1] * (x.dim() - 3)
        n = x[0].numel() // x.size(2)  # values per channel and batch
        if n <= 1:
            raise ValueError("Expected more than 1 value per channel when "
                             f"training, got input size {x[0].size()}")
        mean, var = x.mean(dims), x.var(dims, correction=0)  # (G, C)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape)
                                                     + self.eps)
        if reference is not None:  # batch renormalization
            mu, sigma = reference
            with torch.no_grad():  # r and d: constants for backward
                r = (torch.sqrt(var + self.eps) / sigma).clamp(
                    1 / self.r_max, self.r_max)
                d = ((mean - mu) / sigma).clamp(-self.d_max, self.d_max)
            x_hat = x_hat * r.view(shape) + d.view(shape)
        if self.training and self.track_running_stats:
            self._update_per_batch(mean.detach(), var.detach(), n)
        y = x_hat
        if self.weight is not None:
            y = y * self.weight.view(shape[1:])
        if self.bias is not None:
            y = y + self.bias.view(shape[1:])
        return y
    # --8<-- [end:renorm]

    @torch.no_grad()
    def _update_per_batch(self, means, variances, n):
        """The running statistics after one update per virtual batch, in
        order: with momentum a, batch j of k is weighted a (1 - a)^(k-1-j).
        """
        if self.running_mean is None:  # tracking switched on after init
            return
        k = len(means)
        if self.momentum is None or k == 1:  # 1 / t changes every time
            for mean, var in zip(means, variances):
                self._update_running_stats(mean, var, n)
            return
        a = self.momentum
        weights = a * (1 - a) ** torch.arange(k - 1, -1, -1,
                                              dtype=means.dtype)
        weights = weights.view(-1, 1).to(means.device)
        unbiased = variances * n / (n - 1)
        self.running_mean.mul_((1 - a) ** k).add_(
            (weights * means).sum(0).to(self.running_mean.dtype))
        self.running_var.mul_((1 - a) ** k).add_(
            (weights * unbiased).sum(0).to(self.running_var.dtype))
        self.num_batches_tracked += k

    def extra_repr(self):
        return (f"{super().extra_repr()}, "
                f"virtual_batch_size={self.virtual_batch_size}")


class BatchRenorm(_VirtualBatchNorm):
    """Batch Renormalization (Ioffe 2017, Algorithm 1).

    >>> x = torch.randn(16, 3) * 4 + 2
    >>> brn, bn = BatchRenorm(3, r_max=1, d_max=0), torch.nn.BatchNorm1d(3)
    >>> torch.allclose(brn(x), bn(x), atol=1e-6)  # no correction: BN
    True
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *,
                 r_max=3.0, d_max=5.0, virtual_batch_size=None, bias=True):
        if not track_running_stats:
            raise ValueError("BatchRenorm corrects batch statistics "
                             "towards the running ones: it needs "
                             "track_running_stats=True")
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats,
                         virtual_batch_size=virtual_batch_size,
                         r_max=r_max, d_max=d_max, bias=bias,
                         device=device, dtype=dtype)

    def extra_repr(self):
        return f"{super().extra_repr()}, r_max={self.r_max}, " \
               f"d_max={self.d_max}"


class GhostBatchNorm(_VirtualBatchNorm):
    """Ghost batch normalization: statistics per virtual batch.

    >>> x = torch.randn(12, 3)
    >>> ghost, bn = GhostBatchNorm(3, 4), torch.nn.BatchNorm1d(3)
    >>> each = torch.cat([bn(part) for part in x.split(4)])
    >>> torch.allclose(ghost(x), each, atol=1e-6)
    True
    """

    def __init__(self, num_features, virtual_batch_size, eps=1e-5,
                 momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats,
                         virtual_batch_size=virtual_batch_size, bias=bias,
                         device=device, dtype=dtype)
