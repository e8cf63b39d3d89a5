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
# The fixes: BatchNorm1d on the transposed (N, C, L) tensor (each feature
# over the batch and the positions), or LayerNorm over the features, which
# normalizes each token on its own and does not depend on the batch.

# %%
# --8<-- [start:fixes]
fixes = {"TokenBatchNorm1d(C)": pooled(TokenBatchNorm1d(C), tokens),
         "LayerNorm(C)": pooled(nn.LayerNorm(C), tokens)}
for name, outcome in fixes.items():
    print(f"{name}: {outcome}")
# --8<-- [end:fixes]

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
for row in rows:
    print(row)
report.table("normalized_shape", ["Layer", "Statistics shared over",
                                  "Mean/variance pairs",
                                  "weight and bias shape"], rows)
