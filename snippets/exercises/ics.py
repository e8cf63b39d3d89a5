"""Answers to the exercises on the internal covariate shift page."""

# The imports marked noqa are used by the doctests alone.
import torch  # noqa: F401
from torch import nn  # noqa: F401

from snippets.experiments.ics import (  # noqa: F401
    NoisyBatchNorm1d,
    sigmoid_inputs,
    sigmoid_mlp,
)


# --8<-- [start:no_update]
def shift_without_updates():
    """Internal covariate shift comes from updates to earlier layers: with
    a learning rate of 0 the sigmoid inputs do not move at all.

    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model, x = sigmoid_mlp("none", hidden=8), torch.rand(32, 1, 28, 28)
    >>> before = sigmoid_inputs(model, x)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.0)
    >>> loss = model(x).sum()
    >>> loss.backward()
    >>> opt.step()
    >>> all(torch.equal(a, b) for a, b in zip(before, sigmoid_inputs(model, x)))
    True
    """
# --8<-- [end:no_update]


# --8<-- [start:fixed]
def what_bn_fixes():
    """In training, BN's output has batch mean beta (``bias``) and biased
    standard deviation gamma * sqrt(var / (var + eps)): the next layer's
    input distribution moves only as fast as gamma and beta are trained.

    >>> bn = nn.BatchNorm1d(1)
    >>> with torch.no_grad():
    ...     _ = bn.weight.fill_(2.0), bn.bias.fill_(0.5)
    >>> y = bn(torch.randn(1000, 1) * 7 + 3).detach()
    >>> round(y.mean().item(), 4), round(y.std(correction=0).item(), 4)
    (0.5, 2.0)
    """
# --8<-- [end:fixed]


# --8<-- [start:percentiles]
def normal_percentiles():
    """If a sigmoid's input is roughly normal with mean beta and standard
    deviation gamma, its 15th and 85th percentiles sit about 1.04 gamma
    either side of beta.

    >>> z = torch.distributions.Normal(0.0, 1.0)
    >>> [round(v, 3) for v in z.icdf(torch.tensor([0.15, 0.5, 0.85])).tolist()]
    [-1.036, 0.0, 1.036]
    """
# --8<-- [end:percentiles]


# --8<-- [start:noisy_eval]
def noisy_bn_at_test_time():
    """The noise is a training-time intervention: in eval mode a noisy BN
    layer is an ordinary BN layer.

    >>> noisy, plain = NoisyBatchNorm1d(3), nn.BatchNorm1d(3)
    >>> plain.load_state_dict(noisy.state_dict())
    <All keys matched successfully>
    >>> x = torch.randn(16, 3)
    >>> torch.equal(noisy.eval()(x), plain.eval()(x))
    True
    """
# --8<-- [end:noisy_eval]
