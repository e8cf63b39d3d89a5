"""The exercise answers agree with what the real modules do."""

import pytest
import torch
from torch import nn

from snippets.exercises.algorithm import gradient_sums_to_zero, statistics_count

MODULES = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d,
           5: nn.BatchNorm3d}


@pytest.mark.parametrize("shape", [(8, 16, 5, 5), (32, 64), (4, 3, 7),
                                   (2, 5, 3, 4, 6)])
def test_statistics_count_matches_the_module(shape):
    means, values = statistics_count(shape)
    x = torch.randn(shape)
    bn = MODULES[len(shape)](shape[1], momentum=1.0)  # buffers := batch
    bn(x)
    assert bn.running_mean.numel() == means
    channel0 = x.transpose(0, 1)[0].flatten()  # every value of channel 0
    assert channel0.numel() == values
    torch.testing.assert_close(bn.running_mean[0], channel0.mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_sums_to_zero_for_any_input(seed):
    assert gradient_sums_to_zero(seed).abs().max() < 1e-12
