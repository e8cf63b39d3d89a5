"""What the home page says about its MLP pair, checked on the very code the
pages show (the ``model`` section of examples/mlp_batchnorm.py)."""

import torch
from torch import nn

from testkit import EXAMPLES, section


def make_mlp():
    namespace = {"nn": nn}
    exec(section(EXAMPLES / "mlp_batchnorm.py", "model"), namespace)
    return namespace["make_mlp"]


def test_both_models_start_from_the_same_weights():
    """Seeding before each model gives the same initial Linear weights:
    BatchNorm1d draws no random numbers."""
    build = make_mlp()
    torch.manual_seed(42)
    plain = build(784, False)
    torch.manual_seed(42)
    normed = build(784, True)
    linear = [[p for p in m.parameters()] for m in (plain, normed)]
    plain_linear = [m for m in plain if isinstance(m, nn.Linear)]
    normed_linear = [m for m in normed if isinstance(m, nn.Linear)]
    assert len(plain_linear) == len(normed_linear) == 3
    for a, b in zip(plain_linear, normed_linear):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in normed) == 2
    assert len(linear[1]) == len(linear[0]) + 4  # BN's weight and bias


def test_batchnorm_layers_follow_each_hidden_linear():
    normed = make_mlp()(784, True)
    kinds = [type(m).__name__ for m in normed]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear",
                     "BatchNorm1d", "ReLU", "Linear"]
