"""Internal covariate shift experiments: the network of Ioffe & Szegedy's
Figure 1, the "noisy BatchNorm" of Santurkar et al. (2018), and a way to
look at the inputs of every sigmoid without disturbing training."""

import torch
from torch import nn


# --8<-- [start:noisy]
class NoisyBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d followed, in training only, by a random per-unit scale
    and shift drawn afresh at every step: a <- s * a + m. The input
    distribution of the next layer then moves at every step, by design.

    >>> bn = NoisyBatchNorm1d(3, scale=0.5, shift=1.0, seed=0)
    >>> x = torch.randn(64, 3)
    >>> bool(torch.allclose(bn(x), bn(x)))   # a new draw each step
    False
    >>> torch.equal(bn.eval()(x), bn.eval()(x))  # no noise in eval
    True
    """

    def __init__(self, num_features, scale=0.5, shift=1.0, seed=0):
        super().__init__(num_features)
        self.scale, self.shift = scale, shift
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x):
        y = super().forward(x)
        if not self.training:
            return y
        c = self.num_features
        s = 1 + self.scale * (2 * torch.rand(c, generator=self.generator)
                              - 1)           # s in [1 - scale, 1 + scale]
        m = self.shift * (2 * torch.rand(c, generator=self.generator) - 1)
        return y * s + m
# --8<-- [end:noisy]


# --8<-- [start:network]
def sigmoid_mlp(norm="none", hidden=100, depth=3, seed=0):
    """Ioffe & Szegedy's Figure 1 network: ``depth`` fully connected
    hidden layers of ``hidden`` sigmoid units; ``norm`` is "none", "bn"
    (BatchNorm before each sigmoid) or "noisy" (BatchNorm, then noise).

    >>> sigmoid_mlp("bn", hidden=4, depth=1)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=784, out_features=4, bias=False)
      (2): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
      (3): Sigmoid()
      (4): Linear(in_features=4, out_features=10, bias=True)
    )
    """
    layers, width = [nn.Flatten()], 784
    for i in range(depth):
        layers.append(nn.Linear(width, hidden, bias=(norm == "none")))
        if norm == "bn":
            layers.append(nn.BatchNorm1d(hidden))
        elif norm == "noisy":
            layers.append(NoisyBatchNorm1d(hidden, seed=seed * 100 + i))
        layers.append(nn.Sigmoid())
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, 10))
# --8<-- [end:network]


# --8<-- [start:watch]
@torch.no_grad()
def sigmoid_inputs(model, x, training=True):
    """The input of every sigmoid, for the batch ``x``, as the network
    computes it in training (``training=True``) or evaluation mode. The
    model's mode and running statistics are left as they were."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(i[0]))
             for m in model.modules() if isinstance(m, nn.Sigmoid)]
    saved = {k: v.clone() for k, v in model.named_buffers()}
    was_training = model.training
    model.train(training)
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
        for name, value in model.named_buffers():
            value.copy_(saved[name])
    return seen
# --8<-- [end:watch]
