"""The claims of the "which layer" page, asserted against PyTorch."""

import pytest
import torch
from torch import nn

from snippets.experiments.norm_axes import (reduced_axes, shares_statistics,
                                statistics_groups)

g = torch.Generator().manual_seed(0)
N, C, H, W = 4, 6, 3, 3


def x4(dtype=torch.float64):
    return torch.randn(N, C, H, W, generator=g, dtype=dtype) * 2 + 1


@pytest.mark.parametrize("layer, names, expected, groups", [
    (nn.BatchNorm2d(C), "NCHW", "N, H, W", C),
    (nn.LayerNorm([C, H, W]), "NCHW", "C, H, W", N),
    (nn.InstanceNorm2d(C), "NCHW", "H, W", N * C),
    (nn.GroupNorm(2, C), "NCHW", "C (3 of 6), H, W", N * 2),
    (nn.RMSNorm([C, H, W]), "NCHW", "C, H, W", N),
])
def test_axes_and_number_of_statistics(layer, names, expected, groups):
    x = x4(torch.float32)
    assert reduced_axes(shares_statistics(layer, x, (0, 0, 0, 0)),
                        list(names)) == expected
    assert int(statistics_groups(layer, x).max()) + 1 == groups


def test_probe_agrees_with_the_definition_of_batchnorm():
    """The probe's group for BatchNorm2d is exactly channel 0."""
    x = x4(torch.float32)
    mask = shares_statistics(nn.BatchNorm2d(C), x, (1, 0, 2, 1))
    expected = torch.zeros_like(mask)
    expected[:, 0] = True
    assert torch.equal(mask, expected)


def test_batchnorm2d_is_batchnorm1d_on_flattened_positions():
    x = x4()
    a = nn.BatchNorm2d(C).double()(x)
    b = nn.BatchNorm1d(C).double()(x.view(N, C, H * W)).view(N, C, H, W)
    torch.testing.assert_close(a, b)


def test_batchnorm1d_on_vectors_is_batchnorm2d_on_1x1_maps():
    v = x4()[:, :, 0, 0]
    a = nn.BatchNorm1d(C).double()(v)
    b = nn.BatchNorm2d(C).double()(v.view(N, C, 1, 1)).view(N, C)
    torch.testing.assert_close(a, b)


def test_groupnorm_one_group_normalizes_like_layernorm():
    x = x4()
    torch.testing.assert_close(nn.GroupNorm(1, C).double()(x),
                               nn.LayerNorm([C, H, W]).double()(x))
    gn, ln = nn.GroupNorm(1, C), nn.LayerNorm([C, H, W])
    assert gn.weight.shape == (C,) and ln.weight.shape == (C, H, W)


def test_groupnorm_per_channel_is_instancenorm():
    x = x4()
    gn = nn.GroupNorm(C, C).double()
    inorm = nn.InstanceNorm2d(C, affine=True).double()
    with torch.no_grad():
        gn.weight.uniform_(0.5, 2, generator=g)
        inorm.weight.copy_(gn.weight)
    torch.testing.assert_close(gn(x), inorm(x))


def test_layernorm_groupnorm_instancenorm_ignore_mode():
    for layer in (nn.LayerNorm([C, H, W]), nn.GroupNorm(2, C),
                  nn.InstanceNorm2d(C)):
        x = x4(torch.float32)
        torch.testing.assert_close(layer.train()(x), layer.eval()(x))


def test_batchnorm1d_on_tokens():
    tokens = torch.randn(2, 10, 16)
    with pytest.raises(RuntimeError, match="running_mean should contain "
                       "10 elements not 16"):
        nn.BatchNorm1d(16)(tokens)
    square = torch.randn(2, 16, 16)
    mask = shares_statistics(nn.BatchNorm1d(16), square, (0, 0, 0))
    assert reduced_axes(mask, ["N", "L", "C"]) == "N, C"  # wrong axis


def test_instancenorm_reads_2d_input_as_unbatched_with_a_warning():
    with pytest.warns(UserWarning, match="does not match num_features"):
        out = nn.InstanceNorm1d(4)(torch.randn(2, 4))  # (N, C)? (C, L)!
    assert out.shape == (2, 4)


@pytest.mark.parametrize("shape, pairs", [([2, 3, 4], 8), ([3, 4], 16),
                                          ([4], 48)])
def test_layernorm_normalized_shape(shape, pairs):
    x = torch.randn(8, 2, 3, 4, generator=g)
    ln = nn.LayerNorm(shape)
    assert int(statistics_groups(ln, x).max()) + 1 == pairs
    assert tuple(ln.weight.shape) == tuple(shape)  # shared by all samples
