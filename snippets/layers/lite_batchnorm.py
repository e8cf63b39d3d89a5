"""BatchNorm with either half of the normalization switched off.

The d2l book asks what happens with a "lite" batch normalization that only
removes the mean, or only divides by the standard deviation. This layer does
either (or both: then it is exactly BatchNorm). Statistics, running
estimates and the learned scale and shift work as in ``nn.BatchNorm2d``.
"""

import torch

from snippets.layers.batchnorm import BatchNorm


# --8<-- [start:lite]
class LiteBatchNorm(BatchNorm):
    """``center``: subtract the batch mean; ``scale``: divide by the batch
    standard deviation. Then ``weight * y + bias`` as in BatchNorm.

    >>> x = torch.randn(64, 3) * 5 + 2
    >>> y = LiteBatchNorm(3, scale=False)(x)  # mean removed, spread kept
    >>> y.mean(0).abs().max() < 1e-5, torch.allclose(y.std(0), x.std(0))
    (tensor(True), True)
    >>> y = LiteBatchNorm(3, center=False)(x)  # spread removed, mean kept
    >>> torch.allclose(y.std(0, correction=0), torch.ones(3), atol=1e-4)
    True
    """

    def __init__(self, num_features, *, center=True, scale=True, **kwargs):
        super().__init__(num_features, **kwargs)
        self.center, self.scale = center, scale

    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))  # every dim except channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean, var = x.mean(dims), x.var(dims, correction=0)
            self._update_running_stats(mean, var, x.numel() // x.size(1))
        else:
            mean, var = self.running_mean, self.running_var
        if self.center:
            x = x - mean.view(shape)
        if self.scale:
            x = x / torch.sqrt(var.view(shape) + self.eps)
        return x * self.weight.view(shape) + self.bias.view(shape)
# --8<-- [end:lite]

    def extra_repr(self):
        return (f"{self.num_features}, center={self.center}, "
                f"scale={self.scale}")
