# %% [markdown]
# # Four equivalences between normalization layers
#
# BatchNorm2d is BatchNorm1d on flattened positions; BatchNorm1d on (N, C)
# is BatchNorm2d on (N, C, 1, 1); GroupNorm with one group normalizes like
# LayerNorm over (C, H, W); GroupNorm with one channel per group is
# InstanceNorm with `affine=True` (and its default
# `track_running_stats=False`). Each is checked numerically here, in
# training mode, and asserted in `tests/test_norm_layers.py`.
#
# Why this matters for Batch Normalization: these layers differ in which
# elements share one mean and one variance. When two of them pool exactly
# the same elements, they compute the same output. Knowing these pairs
# helps to read code that uses one layer where you expected the other.
#
# The method is the same for every pair: run both layers on the same input
# and take the largest absolute difference between their outputs. If the
# two layers are equivalent, that difference is zero or a rounding error.

# %%
import torch
from torch import nn

from snippets.support.report import Report

report = Report("norm_equivalences")
g = torch.Generator().manual_seed(0)
N, C, H, W = 8, 6, 5, 5
x = torch.randn(N, C, H, W, generator=g, dtype=torch.float64) * 2 + 1


def biggest(a, b):
    return (a - b).abs().max().item()


# %% [markdown]
# `x` is one batch of `N` images with `C` channels of `H` x `W` positions.
# It is scaled and shifted, so its mean is away from 0 and its standard
# deviation is away from 1. So each layer changes its input: the mean and
# the spread both have to be normalized. It is in float64, so rounding
# errors stay far below any real difference. `biggest(a, b)` is the
# largest absolute difference between two outputs.
#
# ## The four pairs
#
# A new module is in training mode, so each layer below normalizes with
# the statistics of `x` itself. The cell compares:
#
# - `flat`: BatchNorm2d on the images against BatchNorm1d on the same
#   values with H and W flattened into one axis of length H * W. Both
#   should pool each channel over the batch and all positions.
# - `pooled`: BatchNorm1d on an (N, C) batch against BatchNorm2d on the
#   same batch seen as (N, C, 1, 1) images. This is the shape of a
#   feature map after global average pooling.
# - `one_group`: GroupNorm with one group against LayerNorm over
#   [C, H, W]. Both normalize each sample over all its channels and
#   positions. Both layers keep their default affine parameters.
# - `per_channel`: GroupNorm with C groups of one channel against
#   InstanceNorm2d with `affine=True`. Both normalize each channel of each
#   sample on its own.
#
# The `.double()` calls turn each layer into float64, to match `x`.

# %%
# --8<-- [start:equivalences]
bn2d, bn1d = nn.BatchNorm2d(C).double(), nn.BatchNorm1d(C).double()
flat = biggest(bn2d(x), bn1d(x.view(N, C, H * W)).view(N, C, H, W))

v = x[:, :, 0, 0]                                    # an (N, C) batch
pooled = biggest(bn1d(v), bn2d(v.view(N, C, 1, 1)).view(N, C))

gn1, ln = nn.GroupNorm(1, C).double(), nn.LayerNorm([C, H, W]).double()
one_group = biggest(gn1(x), ln(x))                   # both at default affine

gnc = nn.GroupNorm(C, C).double()
inorm = nn.InstanceNorm2d(C, affine=True).double()
per_channel = biggest(gnc(x), inorm(x))
# --8<-- [end:equivalences]

# %% [markdown]
# ## The affine parameters
#
# The affine parts differ where the shapes differ: GroupNorm has one
# weight and bias per channel, LayerNorm([C, H, W]) one per element. With
# trained (non-uniform) parameters the outputs agree only when LayerNorm's
# parameters are constant over H and W.
#
# The next cell tests both sides of that sentence. It gives GroupNorm
# random weights and biases, one per channel, as training might. Then it
# copies them into LayerNorm, repeating each channel's value over all H x
# W positions (`same_when_broadcast`). Last, it changes a single
# LayerNorm weight, which GroupNorm has no way to express
# (`different_otherwise`). The writes into the parameters run under
# `torch.no_grad()`.

# %%
# --8<-- [start:affine]
with torch.no_grad():
    gn1.weight.uniform_(0.5, 1.5, generator=g)
    gn1.bias.uniform_(-1, 1, generator=g)
    ln.weight.copy_(gn1.weight.view(C, 1, 1).expand(C, H, W))
    ln.bias.copy_(gn1.bias.view(C, 1, 1).expand(C, H, W))
same_when_broadcast = biggest(gn1(x), ln(x))
with torch.no_grad():
    ln.weight[0, 0, 0] += 1.0   # LayerNorm can vary within a channel
different_otherwise = biggest(gn1(x), ln(x))
# --8<-- [end:affine]

# %% [markdown]
# ## The results
#
# The table gives the largest difference for each comparison. Read the
# last column. The first five rows compare two ways to compute the same
# thing, so their differences should be zero or at the level of float64
# rounding. A larger number in one of those rows would mean that the two
# layers do not compute the same thing after all.
#
# The last row is the control. One changed weight must change the output
# of LayerNorm, so its difference should be clearly above rounding. If it
# were not, the method itself would be unable to see a difference, and
# the small numbers above would mean nothing.

# %%
rows = [
    ["BatchNorm2d on (N, C, H, W)", "BatchNorm1d on (N, C, H*W)",
     f"{flat:.1e}"],
    ["BatchNorm1d on (N, C)", "BatchNorm2d on (N, C, 1, 1)",
     f"{pooled:.1e}"],
    ["GroupNorm(1, C)", "LayerNorm([C, H, W])", f"{one_group:.1e}"],
    ["GroupNorm(C, C)", "InstanceNorm2d(C, affine=True)",
     f"{per_channel:.1e}"],
    ["GroupNorm(1, C), trained affine", "LayerNorm, same affine broadcast",
     f"{same_when_broadcast:.1e}"],
    ["GroupNorm(1, C), trained affine", "LayerNorm, one weight changed",
     f"{different_otherwise:.2f}"],
]
report.table("equivalences", ["This", "equals that", "Largest difference"],
             rows)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers: the shape of the input and the
# difference made by the changed weight. A reader can skip this section.

# %%
report.values(shape=f"({N}, {C}, {H}, {W})",
              different=f"{different_otherwise:.2f}")
