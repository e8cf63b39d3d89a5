# %% [markdown]
# # Why gamma and beta
#
# Normalized inputs sit where a sigmoid is nearly linear. The learned scale
# gamma (`weight`) and shift beta (`bias`) let the network move them back
# out; for a given batch they can even undo the normalization exactly
# (Ioffe & Szegedy 2015, Section 3).
#
# Normalization alone has a cost. A sigmoid that only sees values near 0
# behaves almost like a straight line, and a network of straight lines can
# only compute straight-line functions. The last step of batch
# normalization, y = gamma * x_hat + beta, gives that freedom back: the
# network learns where each feature should sit. This lesson first measures
# the two extremes, a feature far from 0 and the same feature normalized,
# and then shows that gamma and beta can even return the input unchanged.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import Above, All, Below

report = Report("bn_gamma_beta")
g = torch.Generator().manual_seed(0)

# %% [markdown]
# ## A sigmoid and the values it is fed
#
# A feature whose values in the batch sit far to the right of 0, with a
# wide spread (as a pre-activation can, once weights have grown), and the
# same feature after normalization. For each, the code measures the
# sigmoid's mean slope, where its slope is below 0.1 (the flat parts), and
# how well a straight line fitted over the feature's own values describes
# the sigmoid there (R squared, 1 for a perfect line).
#
# `feature` holds a single feature for a large batch of samples. The
# numbers in its line of code set the centre and the spread of its
# values. `normalized` is the output of `nn.BatchNorm1d` with
# `affine=False`: the layer has no gamma and beta, so its output is step 3
# of the algorithm alone, with mean 0 and variance close to 1.
#
# The three measures, computed by the helpers below:
#
# - `slope(x)` is the derivative of the sigmoid at x. It is largest at
#   x = 0, where it is 0.25. In the backward pass, the gradient that
#   reaches the sigmoid's input is the gradient at its output times this
#   slope. A small slope means a small gradient, here and in the layers
#   below.
# - The flat share is the share of values where the slope is below 0.1.
# - `line_fit(x)` fits the best straight line through the points
#   (x, sigmoid(x)) and returns its R squared. Close to 1 means that, over
#   these values, the sigmoid could be replaced by a straight line.
#
# In the two printed lines, compare the raw and the normalized feature on
# each measure. The raw feature should have the smaller mean slope and
# the larger flat share. The normalized feature should have the R squared
# closer to 1. Neither extreme is good for every layer: the raw feature
# gets little gradient, and the normalized feature uses the sigmoid almost
# as a straight line.

# %%
# --8<-- [start:sigmoid]
feature = 4 + 2 * torch.randn(1000, 1, generator=g)   # (N, C) = (1000, 1)
normalized = nn.BatchNorm1d(1, affine=False)(feature).detach()


def slope(x):  # derivative of the sigmoid
    return torch.sigmoid(x) * (1 - torch.sigmoid(x))


def line_fit(x):  # R^2 of the best straight line through sigmoid(x)
    x, y = x.flatten().double(), torch.sigmoid(x.flatten().double())
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    fit = design @ torch.linalg.lstsq(design, y[:, None]).solution
    return 1 - ((y - fit[:, 0]) ** 2).sum() / ((y - y.mean()) ** 2).sum()


for name, x in [("raw", feature), ("normalized", normalized)]:
    flat = (slope(x) < 0.1).float().mean()  # share where the slope < 0.1
    print(f"{name:>10}: mean slope {slope(x).mean():.3f}, flat share "
          f"{flat:.2f}, straight-line R^2 {line_fit(x):.3f}")
# --8<-- [end:sigmoid]

# %% [markdown]
# The figure puts the numbers above in one picture. The black curve is
# the sigmoid, and the dotted line is its tangent at 0, 1/2 + x/4. The two
# histograms (right axis) show where the values of the two versions of
# the feature fall.
#
# Look at where each histogram sits under the curve. Where the red
# histogram (the raw feature) sits, the sigmoid should be mostly flat,
# close to 1. Where the blue histogram (the normalized feature) sits, the
# sigmoid should stay close to the dotted tangent line. The sigmoid is
# clearly curved between its nearly straight middle and its flat tails.
# gamma and beta let the network move a feature there, or anywhere else.

# %%
grid = torch.linspace(-6, 10, 400)
fig, ax = plt.subplots()
ax.plot(grid, torch.sigmoid(grid), color="k", label="sigmoid(x)")
ax.plot(grid, 0.5 + grid / 4, color="k", ls=":", lw=1,
        label="tangent at 0: 1/2 + x/4")
ax2 = ax.twinx()
bins = torch.linspace(-6, 10, 65)
ax2.hist(feature.flatten(), bins=bins, alpha=0.4, color="C3",
         label="raw feature")
ax2.hist(normalized.flatten(), bins=bins, alpha=0.4, color="C0",
         label="after normalization")
ax2.set_ylabel("samples")
ax2.grid(False)
ax.set_ylim(-0.1, 1.1)
ax.set_xlabel("input to the sigmoid")
ax.set_ylabel("sigmoid output")
lines = ax.get_legend_handles_labels()
bars = ax2.get_legend_handles_labels()
ax.legend(lines[0] + bars[0], lines[1] + bars[1], loc="center right",
          fontsize=8)
report.figure(fig, "sigmoid")

# %% [markdown]
# ## gamma and beta can undo it exactly, for a given batch
#
# Set gamma to sqrt(var + eps), this batch's standard deviation with eps
# added, and beta to its mean, and the layer returns its input. Another
# batch, with another mean and variance, would need other values: a fixed
# gamma and beta undo the normalization of one batch, not of every batch.
# In evaluation mode, with gamma = sqrt(running_var + eps) and
# beta = running_mean, the layer is the identity for every input.
#
# Why the first statement holds: step 3 computes
# x_hat = (x - mean) / sqrt(var + eps), and step 4 computes
# gamma * x_hat + beta. With these two values of gamma and beta, step 4
# multiplies by the same number that step 3 divided by, and adds back the
# mean that step 3 subtracted.
#
# The code works in float64. It copies sqrt(var + eps) into the layer's
# `weight`, with the biased variance of `x` (`correction=0`, as the layer
# uses in training mode) and the layer's own `eps`. It copies the mean of
# `x` into the layer's `bias`. Then it calls the layer on the same `x`.
# Look at the printed largest difference between output and input: it
# should be at the level of float64 rounding. A larger difference would
# mean that gamma and beta do not exactly undo step 3.

# %%
# --8<-- [start:identity]
x = feature.double()  # float64, so only rounding at 1e-16 remains
bn = nn.BatchNorm1d(1, dtype=torch.float64)
with torch.no_grad():
    bn.weight.copy_(torch.sqrt(x.var(0, correction=0) + bn.eps))
    bn.bias.copy_(x.mean(0))
    restored = bn(x)
print("largest |output - input|:", (restored - x).abs().max().item())
# --8<-- [end:identity]

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section. The code
# measures the slope, the flat share and the R squared of both versions of
# the feature again, as numbers that the claims can use.

# %%
identity_error = (restored - x).abs().max().item()
stats = {}
for name, inputs in [("raw", feature), ("normalized", normalized)]:
    stats[name] = (slope(inputs).mean().item(),
                   (slope(inputs) < 0.1).float().mean().item(),
                   line_fit(inputs).item())
report.values(identity_error=f"{identity_error:.1e}",
              slope_raw=f"{stats['raw'][0]:.3f}",
              flat_raw=f"{stats['raw'][1]:.0%}",
              slope_normalized=f"{stats['normalized'][0]:.3f}",
              r2_raw=f"{stats['raw'][2]:.3f}",
              r2_normalized=f"{stats['normalized'][2]:.3f}")
report.claim("raw_feature_mostly_flat", Above(
    "share of the raw values where the sigmoid's slope is below 0.1",
    stats["raw"][1], 0.5))
# "Close to the maximum 0.25": above 80% of it.
report.claim("normalized_slope_near_max", Above(
    "mean slope after normalization (maximum 0.25)", stats["normalized"][0],
    0.8 * 0.25))
report.claim("normalized_nearly_linear", All([
    Above("R^2 of a straight line over the normalized values",
          stats["normalized"][2], 0.95),
    Below("R^2 of a straight line over the raw values", stats["raw"][2],
          0.95)]))
report.claim("identity_restored", Below(
    "largest |output - input|", identity_error, 1e-12))
