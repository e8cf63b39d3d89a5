"""Internal covariate shift experiments: the network of Ioffe & Szegedy's
Figure 1, the "noisy BatchNorm" of Santurkar et al. (2018), and a way to
look at the inputs of every sigmoid without disturbing training."""

import torch
from torch import nn


# --8<-- [start:noisy]
class NoisyBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d followed, in training only, by the noise of Santurkar et
    al. (2018, Appendix A.2.1, Algorithm 1). At every step each unit j
    draws mu_j ~ U(-mean_range, mean_range) and sigma_j ~ U(1, scale_range);
    then every activation of every example gets a <- s * a + m, with
    m ~ U(mu_j - jitter, mu_j + jitter) and s ~ N(sigma_j, jitter**2).
    On (N, C, L) input the positions count as examples. Takes every
    argument of nn.BatchNorm1d; draws from torch's global generator.

    >>> bn = NoisyBatchNorm1d(3)
    >>> x = torch.randn(64, 3)
    >>> bool(torch.allclose(bn(x), bn(x)))   # a new draw each step
    False
    >>> torch.equal(bn.eval()(x), bn.eval()(x))  # no noise in eval
    True
    """

    def __init__(self, num_features, *args, mean_range=0.5, scale_range=1.25,
                 jitter=0.1, **kwargs):
        super().__init__(num_features, *args, **kwargs)
        self.mean_range, self.scale_range = mean_range, scale_range
        self.jitter = jitter

    def forward(self, x):
        y = super().forward(x)
        if not self.training:
            return y
        unit = (1, self.num_features) + (1,) * (y.dim() - 2)  # one per j
        like = dict(dtype=y.dtype, device=y.device)
        mu = torch.empty(unit, **like).uniform_(-self.mean_range,
                                                self.mean_range)
        sigma = torch.empty(unit, **like).uniform_(1.0, self.scale_range)
        m = mu + self.jitter * (2 * torch.rand(y.shape, **like) - 1)
        s = sigma + self.jitter * torch.randn(y.shape, **like)
        return s * y + m
# --8<-- [end:noisy]


# --8<-- [start:network]
def sigmoid_mlp(norm="none", hidden=100, depth=3):
    """Ioffe & Szegedy's Figure 1 network: ``depth`` fully connected
    hidden layers of ``hidden`` sigmoid units; ``norm`` is "none", "bn"
    (BatchNorm before each sigmoid) or "noisy" (BatchNorm, then noise).

    >>> sigmoid_mlp("bn", hidden=4, depth=1)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=784, out_features=4, bias=False)
      (2): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True,
                       track_running_stats=True)
      (3): Sigmoid()
      (4): Linear(in_features=4, out_features=10, bias=True)
    )
    """
    layers, width = [nn.Flatten()], 784
    for _ in range(depth):
        layers.append(nn.Linear(width, hidden, bias=(norm == "none")))
        if norm == "bn":
            layers.append(nn.BatchNorm1d(hidden))
        elif norm == "noisy":
            layers.append(NoisyBatchNorm1d(hidden))
        layers.append(nn.Sigmoid())
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, 10))
# --8<-- [end:network]


# --8<-- [start:watch]
@torch.no_grad()
def sigmoid_inputs(model, x, training=True):
    """The input of every sigmoid, for the batch ``x``, as the network
    computes it in training (``training=True``) or evaluation mode. The
    model's mode, its running statistics and the random number generators
    (a noisy layer draws from them) are left as they were."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(i[0]))
             for m in model.modules() if isinstance(m, nn.Sigmoid)]
    saved = {k: v.clone() for k, v in model.named_buffers()}
    was_training = model.training
    model.train(training)
    try:
        with torch.random.fork_rng():  # restores the generators' state
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
        for name, value in model.named_buffers():
            value.copy_(saved[name])
    return seen
# --8<-- [end:watch]


def first_step_reaching(record, level, never):
    """The first measured step (``record["step"]``) at which the test
    accuracy (``record["accuracy"]``, the same length) reached ``level``;
    ``never`` if it did not.

    >>> record = {"step": [10, 20, 30], "accuracy": [0.2, 0.6, 0.9]}
    >>> first_step_reaching(record, 0.5, never=40)
    20
    >>> first_step_reaching(record, 0.95, never=40)
    40
    """
    return next((s for s, a in zip(record["step"], record["accuracy"])
                 if a >= level), never)
