# %% [markdown]
# # Four equivalences between normalization layers
#
# BatchNorm2d is BatchNorm1d on flattened positions; BatchNorm1d on (N, C)
# is BatchNorm2d on (N, C, 1, 1); GroupNorm with one group normalizes like
# LayerNorm over (C, H, W); GroupNorm with one channel per group is
# InstanceNorm with `affine=True` (and its default
# `track_running_stats=False`). Each is checked numerically here, in
# training mode, and asserted in `tests/test_norm_layers.py`.

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
# The affine parts differ where the shapes differ: GroupNorm has one
# weight and bias per channel, LayerNorm([C, H, W]) one per element. With
# trained (non-uniform) parameters the outputs agree only when LayerNorm's
# parameters are constant over H and W.

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
for row in rows:
    print(row)
report.table("equivalences", ["This", "equals that", "Largest difference"],
             rows)
report.values(shape=f"({N}, {C}, {H}, {W})",
              different=f"{different_otherwise:.2f}")
