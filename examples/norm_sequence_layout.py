# %% [markdown]
# # Sequences: BatchNorm1d wants (N, C, L), token batches are (N, L, C)
#
# `nn.BatchNorm1d(C)` reads dim 1 as the channels. Token batches laid out
# as (N, L, C), the layout of transformer code written with
# `batch_first=True` (PyTorch's own `nn.Transformer` and
# `nn.MultiheadAttention` default to (L, N, C)), put the positions there.
# With its default arguments, BatchNorm1d raises when L != C, and worse,
# runs when L == C, normalizing each *position* over the batch and the
# features; with neither affine parameters nor running statistics it runs
# even when L != C. Then: what LayerNorm's `normalized_shape` selects, with
# the source post's (8, 2, 3, 4) example.
#
# Why this matters for Batch Normalization: BatchNorm normalizes each
# channel over the batch. If the layer takes the wrong axis for the
# channels, it computes statistics over the wrong elements. In the worst
# case no error tells you so.
#
# The tool for every check below is `shares_statistics`, the probe of
# `snippets/experiments/norm_axes.py`. It nudges one input element and
# reports which outputs move: exactly the elements that share statistics
# with the nudged one. `reduced_axes` turns that answer into the names of
# the axes that the statistics pool.

# %%
import torch
from torch import nn

from snippets.experiments.norm_axes import (
    TokenBatchNorm1d,
    reduced_axes,
    shares_statistics,
    statistics_groups,
)
from snippets.support.report import Report

report = Report("norm_sequence_layout")
g = torch.Generator().manual_seed(0)

# %% [markdown]
# ## BatchNorm1d on (N, L, C) tokens, as they are
#
# `tokens` is a batch of `N` sequences of `L` tokens, each token with `C`
# features, and `L` is not equal to `C`. `square` is a batch of the same
# layout in which `L` happens to equal `C`. The layer is built with
# `nn.BatchNorm1d(C)`, as one would for `C` features.
#
# `pooled(layer, x)` probes the first element of `x` and names the axes
# of the (N, L, C) input that share its statistics. If the layer raises a
# `RuntimeError`, it returns the message instead.
#
# The cell tries four versions of the mistake: the default layer; the
# layer without running statistics; the layer with neither running
# statistics nor affine parameters; and the default layer on `square`.
#
# For tokens, the correct answer is "N, L": each feature normalized over
# the batch and the positions. Look at two things in the printed lines.
# Where the layer raises, does the message say anything about the layout?
# Where it runs, which axes does it pool? BatchNorm1d takes dim 1 as its
# channels, and in this layout dim 1 holds the `L` positions. A layer
# that runs on (N, L, C) therefore treats each position as a channel.

# %%
# --8<-- [start:wrong_axis]
N, L, C = 4, 10, 16
tokens = torch.randn(N, L, C, generator=g)          # (N, L, C), L != C
square = torch.randn(N, C, C, generator=g)           # L == C == 16


def pooled(layer, x):
    """The axes of (N, L, C) tokens that ``layer`` pools, or its error."""
    try:
        mask = shares_statistics(layer, x, (0, 0, 0))
    except RuntimeError as error:
        return f"RuntimeError: {error}"
    return reduced_axes(mask, ["N", "L", "C"])


wrong = {  # BatchNorm1d applied to (N, L, C) as it is
    "BatchNorm1d(C), L != C": pooled(nn.BatchNorm1d(C), tokens),
    "BatchNorm1d(C, track_running_stats=False), L != C": pooled(
        nn.BatchNorm1d(C, track_running_stats=False), tokens),
    "BatchNorm1d(C, affine=False, track_running_stats=False), L != C":
        pooled(nn.BatchNorm1d(C, affine=False, track_running_stats=False),
               tokens),
    "BatchNorm1d(C), L == C": pooled(nn.BatchNorm1d(C), square),
}
for name, outcome in wrong.items():
    print(f"{name}: {outcome}")
# --8<-- [end:wrong_axis]

# %% [markdown]
# Why does the layer run in some cases? The default layer has running
# statistics and affine parameters with `C` entries each. When dim 1 has
# `L` entries, these sizes do not match, and that is what the error
# messages are about. Without running statistics and without affine
# parameters, the layer has nothing of size `C` to compare with, so it
# runs. When `L == C`, the sizes match, so nothing can raise.
#
# ## Two fixes
#
# The fixes: BatchNorm1d on the transposed (N, C, L) tensor (each feature
# over the batch and the positions), or LayerNorm over the features, which
# normalizes each token on its own and does not depend on the batch.
#
# `TokenBatchNorm1d` (in `snippets/experiments/norm_axes.py`) is
# `nn.BatchNorm1d` that transposes its input to (N, C, L), normalizes, and
# transposes back. The same probe checks both fixes on `tokens`. In the
# printed lines, look for "N, L" for the BatchNorm fix and "C" alone for
# LayerNorm: the statistics of LayerNorm stay within one token.

# %%
# --8<-- [start:fixes]
fixes = {"TokenBatchNorm1d(C)": pooled(TokenBatchNorm1d(C), tokens),
         "LayerNorm(C)": pooled(nn.LayerNorm(C), tokens)}
for name, outcome in fixes.items():
    print(f"{name}: {outcome}")
# --8<-- [end:fixes]

# %% [markdown]
# The table puts the six answers above side by side, as the site shows
# them. Read each row against the intended axes: "N, L" for a BatchNorm
# over tokens, "C" for a LayerNorm over features. Any other answer
# without an error is the silent case of this pitfall.

# %%
report.table("sequence", ["Layer applied to (N, L, C) tokens",
                          "Statistics shared over"],
             [[name, outcome] for name, outcome in {**wrong, **fixes}.items()])

# %% [markdown]
# ## normalized_shape
#
# LayerNorm normalizes over the *last* dimensions, as many as
# `normalized_shape` has; its weight and bias have that shape and are
# shared by all samples. The source post's input: (8, 2, 3, 4).
#
# This matters when LayerNorm replaces BatchNorm: the two layers take
# their size arguments in different ways. BatchNorm1d and BatchNorm2d take
# the number of channels, and find the channel axis at dim 1. LayerNorm
# takes the sizes of the last dimensions, and normalizes over those.
#
# The cell builds LayerNorm with three values of `normalized_shape`: all
# three trailing sizes, the last two, and the last one. For each, it
# counts the mean/variance pairs with `statistics_groups`, which labels
# every element of `x` with the group whose statistics it shares. It also
# names the axes pooled with the first element, and records the shape of
# `weight`. The names N, C, H, W are only labels for the four axes of `x`.

# %%
# --8<-- [start:normalized_shape]
x = torch.randn(8, 2, 3, 4, generator=g)
rows = []
for shape in ([2, 3, 4], [3, 4], [4]):
    ln = nn.LayerNorm(shape)
    groups = int(statistics_groups(ln, x).max()) + 1
    over = reduced_axes(shares_statistics(ln, x, (0, 0, 0, 0)),
                        ["N", "C", "H", "W"])
    rows.append([f"LayerNorm({shape})", over, str(groups),
                 str(tuple(ln.weight.shape))])
# --8<-- [end:normalized_shape]

# %% [markdown]
# In the table, compare the rows from top to bottom. As `normalized_shape`
# gets shorter, each group covers fewer elements, so there are more
# groups. In every row, the number of pairs times the number of elements
# in `normalized_shape` should equal the number of elements of `x`. Then
# look at the last column: the weight and bias have the shape of
# `normalized_shape` and no batch axis, so every sample uses the same
# ones.

# %%
report.table("normalized_shape", ["Layer", "Statistics shared over",
                                  "Mean/variance pairs",
                                  "weight and bias shape"], rows)
