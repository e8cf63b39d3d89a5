"""The statements of the "which layer" page (and of the home page's
definition of BatchNorm1d), asserted against PyTorch, and the page's
helpers checked option by option."""

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from snippets.exercises.layers import group_norm_by_batch_norm
from snippets.experiments.norm_axes import (
    TokenBatchNorm1d,
    reduced_axes,
    shares_statistics,
    statistics_groups,
)

g = torch.Generator().manual_seed(0)
N, C, H, W = 4, 6, 3, 3


def x4(dtype=torch.float64):
    return torch.randn(N, C, H, W, generator=g, dtype=dtype) * 2 + 1


# --- which elements share statistics (training mode) ------------------------

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


def test_probe_leaves_the_layer_and_its_running_statistics_alone():
    bn = nn.BatchNorm2d(C)
    before = copy.deepcopy(bn.state_dict())
    statistics_groups(bn, x4(torch.float32))
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert bn.training and bn.weight.dtype == torch.float32


def test_probe_sees_groups_behind_a_zero_weight():
    """A zero scale (a ResNet's zero-initialized BatchNorm) moves no
    output, yet the statistics are still shared."""
    bn, ln = nn.BatchNorm2d(C), nn.LayerNorm([C, H, W])
    with torch.no_grad():
        bn.weight.zero_()
        ln.weight[1].zero_()
    x = x4(torch.float32)
    assert reduced_axes(shares_statistics(bn, x, (0, 0, 0, 0)),
                        list("NCHW")) == "N, H, W"
    assert reduced_axes(shares_statistics(ln, x, (0, 0, 0, 0)),
                        list("NCHW")) == "C, H, W"


def test_probe_finds_every_member_of_a_group_of_millions():
    """float32 outputs would hide the nudge of one value in 4 million."""
    x = torch.randn(4_000_000, 1, generator=g)
    mask = shares_statistics(nn.BatchNorm1d(1), x, (0, 0))
    assert bool(mask.all())


def test_probe_of_batchnorm_in_eval_finds_no_shared_statistics():
    """In eval mode BatchNorm uses its running estimates: the probe runs
    the layer in its own mode, and no two elements share statistics."""
    mask = shares_statistics(nn.BatchNorm2d(C).eval(), x4(), (0, 0, 0, 0))
    assert int(mask.sum()) == 1


def test_statistics_groups_refuses_a_layer_that_does_not_normalize():
    with pytest.raises(ValueError, match="does not normalize"):
        statistics_groups(nn.Conv1d(1, 1, 3, padding=1),
                          torch.randn(1, 1, 6, generator=g))


# --- parameters, defaults and running statistics ----------------------------

@pytest.mark.parametrize("layer, parameters", [
    (nn.BatchNorm2d(C), ["weight", "bias"]),
    (nn.LayerNorm(C), ["weight", "bias"]),
    (nn.LayerNorm(C, bias=False), ["weight"]),
    (nn.LayerNorm(C, elementwise_affine=False), []),
    (nn.GroupNorm(2, C), ["weight", "bias"]),
    (nn.GroupNorm(2, C, affine=False), []),
    (nn.InstanceNorm2d(C), []),
    (nn.InstanceNorm1d(C), []),
    (nn.InstanceNorm2d(C, affine=True), ["weight", "bias"]),
    (nn.RMSNorm(C), ["weight"]),
])
def test_affine_parameters(layer, parameters):
    assert [name for name, _ in layer.named_parameters()] == parameters


def test_eps_defaults():
    for layer in (nn.BatchNorm1d(C), nn.LayerNorm(C), nn.GroupNorm(2, C),
                  nn.InstanceNorm2d(C)):
        assert layer.eps == 1e-5
    rms = nn.RMSNorm(C)
    assert rms.eps is None  # then eps is the dtype's machine epsilon
    x = torch.randn(5, C, generator=g) * 1e-4
    eps = torch.finfo(x.dtype).eps
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    torch.testing.assert_close(rms(x), expected, rtol=1e-6, atol=0)
    assert not torch.allclose(rms(x), x / torch.sqrt(
        x.pow(2).mean(-1, keepdim=True) + 1e-5), rtol=1e-2)


def test_instancenorm_defaults():
    inorm = nn.InstanceNorm2d(C)
    assert inorm.affine is False and inorm.track_running_stats is False
    assert inorm.weight is None and inorm.running_mean is None


def running_buffers(layer):
    return sorted(n for n, b in layer.named_buffers() if b is not None)


def eval_differs(layer, x):
    for _ in range(3):
        layer.train()(x * 3 + 2)
    with torch.no_grad():
        return not torch.allclose(layer.train()(x), layer.eval()(x))


@pytest.mark.parametrize("layer", [nn.LayerNorm([C, H, W]),
                                   nn.GroupNorm(2, C), nn.InstanceNorm2d(C),
                                   nn.RMSNorm([C, H, W]),
                                   nn.BatchNorm2d(C,
                                                  track_running_stats=False)])
def test_layers_without_running_statistics_ignore_mode(layer):
    assert running_buffers(layer) == []
    assert not eval_differs(layer, x4(torch.float32))


@pytest.mark.parametrize("layer", [
    nn.BatchNorm2d(C), nn.InstanceNorm2d(C, track_running_stats=True),
    nn.InstanceNorm2d(C, affine=True, track_running_stats=True)])
def test_layers_with_running_statistics_differ_in_eval(layer):
    assert running_buffers(layer) == ["num_batches_tracked", "running_mean",
                                      "running_var"]
    assert eval_differs(layer, x4(torch.float32))


def test_eval_uses_running_estimates_only_with_track_running_stats():
    x = torch.randn(8, C, generator=g) * 3 + 2
    tracked = nn.BatchNorm1d(C).eval()
    expected = (x - tracked.running_mean) / torch.sqrt(
        tracked.running_var + tracked.eps)
    torch.testing.assert_close(tracked(x), expected)
    untracked = nn.BatchNorm1d(C, track_running_stats=False).eval()
    batch = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(untracked(x), batch)


def test_batchnorm1d_formula_in_training():
    """Home page: per feature, over the N values (N * L for (N, C, L)),
    biased variance, eps 1e-5, then weight and bias."""
    bn = nn.BatchNorm1d(C)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2, generator=g)
        bn.bias.uniform_(-1, 1, generator=g)
    x = torch.randn(8, C, 5, generator=g) * 3 + 2
    mean = x.mean(dim=(0, 2), keepdim=True)
    var = x.var(dim=(0, 2), unbiased=False, keepdim=True)
    expected = ((x - mean) / torch.sqrt(var + 1e-5) * bn.weight.view(1, C, 1)
                + bn.bias.view(1, C, 1))
    torch.testing.assert_close(bn(x), expected)


@pytest.mark.parametrize("layer, dims", [
    (nn.LayerNorm([C, H, W]), (1, 2, 3)), (nn.GroupNorm(1, C), (1, 2, 3)),
    (nn.InstanceNorm2d(C), (2, 3))])
def test_normalization_formula(layer, dims):
    """(x - mean) / sqrt(biased variance + eps) over the pooled elements
    (default weight 1 and bias 0, or no affine at all)."""
    x = x4(torch.float32)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    torch.testing.assert_close(layer(x), (x - mean) / torch.sqrt(var + 1e-5))


def test_groupnorm_pools_groups_of_consecutive_channels():
    x = x4(torch.float32)
    groups = x.view(N, 2, C // 2, H, W)
    mean = groups.mean((2, 3, 4), keepdim=True)
    var = groups.var((2, 3, 4), unbiased=False, keepdim=True)
    expected = ((groups - mean) / torch.sqrt(var + 1e-5)).view(N, C, H, W)
    torch.testing.assert_close(nn.GroupNorm(2, C)(x), expected)


# --- batch of one -----------------------------------------------------------

@pytest.mark.parametrize("layer, size, message", [
    (nn.BatchNorm1d(C), (1, C), "more than 1 value per channel"),
    (nn.BatchNorm2d(C), (1, C, 1, 1), "more than 1 value per channel"),
    (nn.InstanceNorm1d(C), (1, C, 1), "more than 1 spatial element"),
    (nn.InstanceNorm1d(C), (8, C, 1), "more than 1 spatial element"),
    (nn.BatchNorm1d(C), (1, C, 9), None),
    (nn.BatchNorm2d(C), (1, C, 3, 3), None),
    (nn.GroupNorm(2, C), (1, C), None),
    (nn.LayerNorm(C), (1, C), None),
])
def test_batch_of_one_in_training(layer, size, message):
    x = torch.randn(size, generator=g)
    if message is None:
        assert layer.train()(x).shape == size
    else:
        with pytest.raises(ValueError, match=message):
            layer.train()(x)
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eval()(x)  # running estimates: any batch in eval mode
        else:  # no running statistics: the same refusal in eval mode
            with pytest.raises(ValueError, match=message):
                layer.eval()(x)


# --- inputs read another way (the table's asterisks) ------------------------

@pytest.mark.parametrize("layer, size, message, shape", [
    (nn.InstanceNorm1d(4), (2, 4), "dim=0 does not match", "(C, L)"),
    (nn.InstanceNorm1d(4), (4, 3, 3), "dim=1 does not match", "(N, C, L)"),
    (nn.InstanceNorm2d(4), (2, 4, 9), "dim=0 does not match", "(C, H, W)"),
])
def test_instancenorm_reads_some_inputs_another_way(layer, size, message,
                                                     shape):
    x = torch.randn(size, generator=g)
    with pytest.warns(UserWarning, match=message):
        out = layer(x)
    # what it computed: the statistics of the other reading
    dims = {"(C, L)": (-1,), "(N, C, L)": (-1,), "(C, H, W)": (-2, -1)}[shape]
    expected = (x - x.mean(dims, keepdim=True)) / torch.sqrt(
        x.var(dims, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("layer, size", [
    (nn.InstanceNorm1d(4, affine=True), (2, 4)),
    (nn.InstanceNorm1d(4, affine=True), (4, 3, 3)),
    (nn.InstanceNorm2d(4, affine=True), (2, 4, 9)),
])
def test_instancenorm_with_affine_refuses_those_inputs(layer, size):
    with pytest.raises(ValueError, match="to match num_features"):
        layer(torch.randn(size, generator=g))


def test_instancenorm_with_running_stats_refuses_another_reading():
    with pytest.raises(RuntimeError, match="running_mean"), \
            pytest.warns(UserWarning, match="dim=0 does not match"):
        nn.InstanceNorm2d(4, track_running_stats=True)(
            torch.randn(2, 4, 9, generator=g))


# --- equivalences -----------------------------------------------------------

def test_batchnorm2d_is_batchnorm1d_on_flattened_positions():
    x = x4()
    bn2d, bn1d = nn.BatchNorm2d(C).double(), nn.BatchNorm1d(C).double()
    a = bn2d(x)
    b = bn1d(x.view(N, C, H * W)).view(N, C, H, W)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(bn2d.running_var, bn1d.running_var)
    torch.testing.assert_close(bn2d.eval()(x), bn1d.eval()(
        x.view(N, C, H * W)).view(N, C, H, W))


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


def test_groupnorm_layernorm_agree_iff_affine_is_per_channel():
    x = x4()
    gn, ln = nn.GroupNorm(1, C).double(), nn.LayerNorm([C, H, W]).double()
    with torch.no_grad():
        gn.weight.uniform_(0.5, 1.5, generator=g)
        gn.bias.uniform_(-1, 1, generator=g)
        ln.weight.copy_(gn.weight.view(C, 1, 1).expand(C, H, W))
        ln.bias.copy_(gn.bias.view(C, 1, 1).expand(C, H, W))
    torch.testing.assert_close(gn(x), ln(x))
    with torch.no_grad():
        ln.weight[0, 0, 0] += 1.0  # not constant over channel 0 any more
    assert not torch.allclose(gn(x), ln(x))


def test_groupnorm_per_channel_is_instancenorm():
    x = x4()
    gn = nn.GroupNorm(C, C).double()
    inorm = nn.InstanceNorm2d(C, affine=True).double()
    with torch.no_grad():
        gn.weight.uniform_(0.5, 2, generator=g)
        gn.bias.uniform_(-1, 1, generator=g)
        inorm.weight.copy_(gn.weight)
        inorm.bias.copy_(gn.bias)
    torch.testing.assert_close(gn(x), inorm(x))
    torch.testing.assert_close(gn.eval()(x), inorm.eval()(x))


def test_instancenorm_with_running_stats_is_not_groupnorm_in_eval():
    x = x4()
    gn = nn.GroupNorm(C, C).double()
    inorm = nn.InstanceNorm2d(C, affine=True,
                              track_running_stats=True).double()
    torch.testing.assert_close(gn(x), inorm(x))  # training: still equal
    assert not torch.allclose(gn.eval()(x), inorm.eval()(x))


# --- sequences --------------------------------------------------------------

def test_batchnorm1d_on_tokens():
    tokens = torch.randn(2, 10, 16, generator=g)
    with pytest.raises(RuntimeError, match="running_mean should contain "
                       "10 elements not 16"):
        nn.BatchNorm1d(16)(tokens)
    with pytest.raises(RuntimeError, match="weight should contain "
                       "10 elements not 16"):
        nn.BatchNorm1d(16, track_running_stats=False)(tokens)
    silent = nn.BatchNorm1d(16, affine=False, track_running_stats=False)
    for mode in (silent.train(), silent.eval()):  # no error, wrong axes
        assert mode(tokens).shape == tokens.shape
    mask = shares_statistics(silent.train(), tokens, (0, 0, 0))
    assert reduced_axes(mask, ["N", "L", "C"]) == "N, C"
    square = torch.randn(2, 16, 16, generator=g)
    for kwargs in ({}, {"affine": False}, {"track_running_stats": False}):
        mask = shares_statistics(nn.BatchNorm1d(16, **kwargs), square,
                                 (0, 0, 0))
        assert reduced_axes(mask, ["N", "L", "C"]) == "N, C"  # wrong axis


def test_pytorch_transformers_default_to_sequence_first():
    """(L, N, C) unless batch_first=True."""
    assert nn.MultiheadAttention(16, 2).batch_first is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested-tensor advice
        layer = nn.TransformerEncoderLayer(16, 2)
        assert layer.self_attn.batch_first is False
        assert nn.Transformer(16, 2, 1, 1).encoder.layers[0] \
            .self_attn.batch_first is False
        first = nn.TransformerEncoderLayer(16, 2, batch_first=True)
        assert first.self_attn.batch_first is True


@pytest.mark.parametrize("layer, expected", [
    (TokenBatchNorm1d(16), "N, L"), (nn.LayerNorm(16), "C"),
    (nn.RMSNorm(16), "C")])
def test_what_the_fixes_pool_on_tokens(layer, expected):
    tokens = torch.randn(4, 10, 16, generator=g)
    mask = shares_statistics(layer, tokens, (0, 0, 0))
    assert reduced_axes(mask, ["N", "L", "C"]) == expected


@pytest.mark.parametrize("kwargs", [
    {}, {"eps": 1e-3, "momentum": 0.3}, {"momentum": None},
    {"affine": False}, {"bias": False}, {"track_running_stats": False},
    {"affine": False, "track_running_stats": False}])
def test_token_batchnorm_is_batchnorm1d_on_transposed_tokens(kwargs):
    tokens = torch.randn(4, 10, 16, generator=g, dtype=torch.float64) * 2
    ours = TokenBatchNorm1d(16, **kwargs).double()
    theirs = nn.BatchNorm1d(16, **kwargs).double()
    theirs.load_state_dict(ours.state_dict())
    for _ in range(2):  # training: output and running statistics
        torch.testing.assert_close(ours(tokens), theirs(
            tokens.transpose(1, 2)).transpose(1, 2), rtol=1e-12, atol=1e-12)
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(tokens), theirs(
        tokens.transpose(1, 2)).transpose(1, 2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(4, 16), (4, 10, 16, 1)])
def test_token_batchnorm_refuses_other_layouts(size):
    with pytest.raises(ValueError, match=r"expects \(N, L, C\) tokens"):
        TokenBatchNorm1d(16)(torch.randn(size, generator=g))


def test_layernorm_and_groupnorm_do_not_depend_on_batch_mates():
    """In training mode too: each sample is normalized on its own."""
    x = x4(torch.float32)
    others = torch.randn(N, C, H, W, generator=g) * 5 - 3
    for layer in (nn.LayerNorm([C, H, W]), nn.GroupNorm(2, C),
                  nn.InstanceNorm2d(C), nn.RMSNorm([C, H, W])):
        alone = layer.train()(x[:1])
        mixed = layer.train()(torch.cat([x[:1], others]))[:1]
        torch.testing.assert_close(alone, mixed, rtol=0, atol=0)
    bn = nn.BatchNorm2d(C)  # the contrast: BatchNorm does depend on them
    assert not torch.allclose(bn(x)[:1], bn(torch.cat([x[:1], others]))[:1])


@pytest.mark.parametrize("shape, pairs", [([2, 3, 4], 8), ([3, 4], 16),
                                          ([4], 48)])
def test_layernorm_normalized_shape(shape, pairs):
    x = torch.randn(8, 2, 3, 4, generator=g)
    ln = nn.LayerNorm(shape)
    assert int(statistics_groups(ln, x).max()) + 1 == pairs
    assert tuple(ln.weight.shape) == tuple(shape)  # shared by all samples
    assert tuple(ln.bias.shape) == tuple(shape)


# --- the exercise answer: GroupNorm through F.batch_norm --------------------

@pytest.mark.parametrize("size, groups", [((4, 6, 3, 3), 2), ((4, 6, 3, 3), 6),
                                          ((3, 8), 4), ((2, 6, 5), 3),
                                          ((2, 4, 2, 3, 3), 1)])
@pytest.mark.parametrize("affine", [False, True])
def test_group_norm_by_batch_norm_matches_group_norm(size, groups, affine):
    x = torch.randn(size, generator=g, dtype=torch.float64) * 3 + 1
    gn = nn.GroupNorm(groups, size[1], eps=1e-3, affine=affine).double()
    if affine:
        with torch.no_grad():
            gn.weight.uniform_(0.5, 2, generator=g)
            gn.bias.uniform_(-1, 1, generator=g)
    ours = group_norm_by_batch_norm(x, groups, gn.weight, gn.bias, eps=1e-3)
    torch.testing.assert_close(ours, gn(x), rtol=1e-10, atol=1e-10)


def test_group_norm_by_batch_norm_weight_without_bias():
    x = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    weight = torch.rand(4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(group_norm_by_batch_norm(x, 2, weight),
                               F.group_norm(x, 2, weight))


@pytest.mark.parametrize("size, groups, message", [
    ((2, 6, 2, 1), 4, r"num_groups \(4\) must divide"),
    ((6,), 2, "expected \\(N, C, \\*\\) input"),
    ((3, 4), 4, "single value"),
])
def test_group_norm_by_batch_norm_refuses_clearly(size, groups, message):
    with pytest.raises(ValueError, match=message):
        group_norm_by_batch_norm(torch.randn(size, generator=g), groups)


@pytest.mark.parametrize("shape", [(1, 4), (1, 4, 1, 1)])
@pytest.mark.parametrize("training", [True, False])
def test_groupnorm_refuses_a_group_of_one_value_in_either_mode(shape,
                                                               training):
    """layers.md: GroupNorm(C, C) on a batch of one sample whose groups
    hold a single value raises, in eval() too; GroupNorm(2, 4) accepts
    the same input."""
    layer = nn.GroupNorm(4, 4).train(training)
    with pytest.raises(ValueError, match="Expected more than 1 value"):
        layer(torch.randn(shape))
    assert nn.GroupNorm(2, 4).train(training)(torch.randn(shape)).shape \
        == shape


def test_instancenorm_misreads_silently_when_sizes_coincide():
    """layers.md: the UserWarning of a misread input is missing when the
    misread size equals num_features, and affine=True then runs too."""
    x = torch.randn(4, 4)  # (N, C) with N == C: read as (C, L)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.InstanceNorm1d(4)(x)
        nn.InstanceNorm1d(4, affine=True)(x)
    with pytest.warns(UserWarning):
        nn.InstanceNorm1d(4)(torch.randn(3, 4))
