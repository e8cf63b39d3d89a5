"""BatchNorm with either half of the normalization switched off.

The d2l book (English edition, section 8.5, exercise 4) asks what happens
with a "lite" batch normalization that only removes the mean, or only
divides by the standard deviation. ``LiteBatchNorm`` does either. With both
halves on (the default) it is a drop-in for ``nn.BatchNorm1d``,
``nn.BatchNorm2d`` and ``nn.BatchNorm3d``: the same constructor arguments
(``eps``, ``momentum`` including None, ``affine``, ``bias``,
``track_running_stats``, ``device``, ``dtype``), the same parameters,
buffers and ``state_dict``, the same outputs in train and eval mode, and
the same errors (one value per channel in training, eps <= 0, mixed
dtypes), and float16 or bfloat16 inputs computed in float32.
``tests/test_lite_batchnorm.py`` checks all of it against ``torch.nn``.
Like the from-scratch ``BatchNorm`` it subclasses, one class serves 2D to
5D inputs (``nn.BatchNorm1d`` would refuse a 4D input; this layer does
not).
"""

import torch

from snippets.layers.batchnorm import LOW_PRECISION, BatchNorm


# --8<-- [start:lite]
class LiteBatchNorm(BatchNorm):
    """``center``: subtract the mean; ``scale``: divide by the standard
    deviation (batch statistics in training, running ones in eval). Then
    ``weight * y + bias``, as in BatchNorm, where those exist.

    >>> x = torch.randn(64, 3) * 5 + 2
    >>> y = LiteBatchNorm(3, scale=False)(x)  # mean removed, spread kept
    >>> y.mean(0).abs().max() < 1e-5, torch.allclose(y.std(0), x.std(0))
    (tensor(True), True)
    >>> y = LiteBatchNorm(3, center=False)(x)  # spread removed, mean kept
    >>> torch.allclose(y.std(0, correction=0), torch.ones(3), atol=1e-4)
    True
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *,
                 bias=True, center=True, scale=True):
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats, device, dtype, bias=bias)
        self.center, self.scale = center, scale

    def forward(self, x):
        self._check_input(x)
        dims = [0] + list(range(2, x.dim()))  # every dim except channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast (C,) over x
        y = x.float() if x.dtype in LOW_PRECISION else x  # as torch.nn
        # Batch statistics in training, and in eval when there are no
        # running statistics (torch.nn looks at the buffers, too).
        if self.training or (self.running_mean is None
                             and self.running_var is None):
            n = x.numel() // x.size(1)  # values per channel
            if n == 0:
                return self._empty(x)
            if n == 1:
                raise ValueError("Expected more than 1 value per channel "
                                 f"when training, got input size {x.size()}")
            if self.eps <= 0:
                raise ValueError("batch_norm eps must be positive during "
                                 f"training, but got {self.eps}")
            var, mean = torch.var_mean(y, dims, correction=0)  # biased
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            if self.eps < 0:
                raise ValueError("batch_norm eps must be non-negative, "
                                 f"but got {self.eps}")
            mean, var = self.running_mean.to(y), self.running_var.to(y)
        # Whichever halves are on, the layer is y = a * x + c per channel.
        a = torch.rsqrt(var + self.eps) if self.scale \
            else torch.ones_like(var)
        c = -mean * a if self.center else torch.zeros_like(mean)
        if self.weight is not None:
            a, c = a * self.weight.to(y), c * self.weight.to(y)
        if self.bias is not None:
            c = c + self.bias.to(y)
        return torch.addcmul(c.view(shape), y, a.view(shape)).to(x.dtype)

    def extra_repr(self):
        return (f"{super().extra_repr()}, center={self.center}, "
                f"scale={self.scale}")
# --8<-- [end:lite]
