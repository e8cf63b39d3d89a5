# %% [markdown]
# # Sequences: BatchNorm1d wants (N, C, L), transformers carry (N, L, C)
#
# `nn.BatchNorm1d(C)` reads dim 1 as the channels. A sequence batch laid
# out as (N, L, C), the usual layout in transformers, is an error when
# L != C, and worse when L == C: it runs and normalizes each *position*
# over the batch and the features. Then: what LayerNorm's
# `normalized_shape` selects, with the source post's (8, 2, 3, 4) example.

# %%
import torch
from torch import nn

from snippets.experiments.norm_axes import reduced_axes, shares_statistics, \
    statistics_groups
from snippets.support.report import Report

report = Report("norm_sequence_layout")
g = torch.Generator().manual_seed(0)

# %%
# --8<-- [start:wrong_axis]
N, L, C = 4, 10, 16
tokens = torch.randn(N, L, C, generator=g)          # (N, L, C)
try:
    nn.BatchNorm1d(C)(tokens)                         # dim 1 is L, not C
except RuntimeError as error:
    message = str(error)
print("L != C:", message)

square = torch.randn(N, C, C, generator=g)           # L == C == 16
bn = nn.BatchNorm1d(C)
wrong = shares_statistics(bn, square, (0, 0, 0))     # runs without error
right = shares_statistics(bn, square.transpose(1, 2), (0, 0, 0))
print("as (N, L, C):", reduced_axes(wrong, ["N", "L", "C"]))
print("transposed to (N, C, L):", reduced_axes(right, ["N", "C", "L"]))
# --8<-- [end:wrong_axis]

# %% [markdown]
# The fixes: transpose to (N, C, L) and back, or use LayerNorm over the
# features, which normalizes each token on its own (the transformer
# choice, and independent of the batch).

# %%
# --8<-- [start:fixes]
def batchnorm_tokens(bn, x):
    """BatchNorm1d over the features of (N, L, C) tokens."""
    return bn(x.transpose(1, 2)).transpose(1, 2)


fixed = shares_statistics(lambda t: batchnorm_tokens(nn.BatchNorm1d(C), t),
                          tokens, (0, 0, 0))
per_token = shares_statistics(nn.LayerNorm(C), tokens, (0, 0, 0))
print("transposed BatchNorm1d:", reduced_axes(fixed, ["N", "L", "C"]))
print("LayerNorm(C):", reduced_axes(per_token, ["N", "L", "C"]))
# --8<-- [end:fixes]

# %%
report.table("sequence", ["Layer applied to (N, L, C) tokens",
                          "Statistics shared over"], [
    ["BatchNorm1d(C), L != C", "RuntimeError: " + message],
    ["BatchNorm1d(C), L == C (no error)", reduced_axes(wrong,
                                                       ["N", "L", "C"])],
    ["BatchNorm1d(C) on x.transpose(1, 2)", reduced_axes(fixed,
                                                         ["N", "L", "C"])],
    ["LayerNorm(C)", reduced_axes(per_token, ["N", "L", "C"])]])

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
report.values(pairs_full=rows[0][2], pairs_last=rows[2][2])
