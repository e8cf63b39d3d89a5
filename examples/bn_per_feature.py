# %% [markdown]
# # Which values share one mean and variance
#
# Batch normalization computes one mean and one variance per feature
# (channel). For an (N, C) input that is each column over the N samples;
# for an (N, C, H, W) input it is each channel over the N samples and all
# H x W positions.
#
# This choice decides how many numbers the layer learns and keeps, and
# how many values each mean and variance is computed from. For
# convolutional layers, Ioffe & Szegedy (2015) keep one gamma and one
# beta per feature map (channel). They compute its statistics over all
# the values of that map in the mini-batch: every sample and every
# position. A convolution applies the same filter at every position of
# an image, so this treats all the positions of one channel alike.
#
# This lesson counts the statistics for both shapes, checks the count
# against the layers' own buffers, and then draws which values share one
# mean and variance.

# %%
import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle
from torch import nn

from snippets.support.report import Report

report = Report("bn_per_feature")

# %% [markdown]
# ## Counting the statistics
#
# The reduced dimensions are every dimension except dim 1; the number of
# statistics is the size of the running buffers, one per channel.
#
# `per_channel_stats` takes the mean and the biased variance over `dims`:
# dimension 0 (the samples) and every dimension after the channel
# dimension. Its third result is the number of values behind each mean:
# all elements divided by the number of channels.
#
# The loop tries it on a random `(N, C)` batch `x2d` with `nn.BatchNorm1d`
# and a random `(N, C, H, W)` batch `x4d` with `nn.BatchNorm2d`. Each layer
# is called once on its batch, in training mode, so that it updates its
# `running_mean` buffer.
#
# In each printed line, compare three numbers: how many means there are,
# how many values each mean is computed from, and the size of
# `running_mean`. The number of means should equal the number of channels
# and the size of `running_mean`. For `x2d` each mean covers the samples
# only. For `x4d` it covers the samples and all positions, so each
# statistic is computed from H x W times as many values as the batch has
# samples.

# %%
# --8<-- [start:count]
def per_channel_stats(x):
    """Mean and biased variance of each channel of an (N, C, *) tensor."""
    dims = [0] + list(range(2, x.dim()))  # all but the channel dim
    return x.mean(dims), x.var(dims, correction=0), x.numel() // x.size(1)


x2d = torch.randn(32, 64)          # (N, C): 32 samples, 64 features
x4d = torch.randn(32, 16, 8, 8)    # (N, C, H, W): 16 channels of 8x8
for x, layer in [(x2d, nn.BatchNorm1d(64)), (x4d, nn.BatchNorm2d(16))]:
    mean, var, n = per_channel_stats(x)
    layer(x)  # training mode: running_mean moves 10% towards these means
    print(tuple(x.shape), "->", mean.numel(), "means, each over", n,
          "values; running_mean has", layer.running_mean.numel())
# --8<-- [end:count]

# %% [markdown]
# Equal sizes do not yet show that the layer reduces over the same
# dimensions. With `momentum=1.0`, the update of the running mean,
# `running = (1 - momentum) * running + momentum * batch_mean`, keeps only
# the mean of the last batch. So after one call on `x4d`, `running_mean`
# of the layer `check` is the layer's own per-channel mean of that batch.
# The printed line should say `True`: the layer computes one mean per
# channel over the same values as `per_channel_stats`. The `assert` stops
# the example if not.

# %%
stats_4d = per_channel_stats(x4d)
check = nn.BatchNorm2d(16, momentum=1.0)  # running_mean := batch mean
check(x4d)
match = torch.allclose(check.running_mean, stats_4d[0], atol=1e-6)
print("running_mean equals the per-channel mean:", match)
assert match

# %% [markdown]
# ## The picture
#
# Left: an (N, C) batch; the shaded column is one feature, normalized with
# its own mean and variance. Right: an (N, C, H, W) batch drawn as N stacks
# of C feature maps; one channel, across every sample and every position,
# shares one mean and variance.
#
# The drawing shows only a few samples and channels, and small feature
# maps; the real batches above are larger. Look at the shaded cells: on
# the left they form one column, on the right the same channel in every
# sample, every position included. All shaded values are normalized with
# the same two numbers, a mean and a variance.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.2),
                                  gridspec_kw={"width_ratios": [1, 1.6]})
n_show, c_show, highlight = 6, 5, 2
for i in range(n_show):
    for j in range(c_show):
        shaded = j == highlight
        left.add_patch(Rectangle((j, n_show - 1 - i), 1, 1,
                                 facecolor="C0" if shaded else "white",
                                 alpha=0.7 if shaded else 1,
                                 edgecolor="0.3"))
left.set_xlim(-0.2, c_show + 0.2)
left.set_ylim(-0.2, n_show + 0.2)
left.set_xlabel("C (features)")
left.set_ylabel("N (samples)")
left.set_title("(N, C): BatchNorm1d")

hw = 3  # each feature map drawn as 3 x 3 pixels
for i in range(4):  # samples, left to right
    for j in range(3):  # channels, top to bottom
        shaded = j == 1
        x0, y0 = i * (hw + 1), (2 - j) * (hw + 1)
        for u in range(hw):
            for v in range(hw):
                right.add_patch(Rectangle(
                    (x0 + u, y0 + v), 1, 1,
                    facecolor="C0" if shaded else "white",
                    alpha=0.7 if shaded else 1, edgecolor="0.3", lw=0.6))
    right.text(x0 + hw / 2, -0.9, f"sample {i + 1}", ha="center",
               fontsize=8)
for j in range(3):
    right.text(-0.5, (2 - j) * (hw + 1) + hw / 2, f"channel {j + 1}",
               ha="right", va="center", fontsize=8)
right.set_xlim(-4.5, 4 * (hw + 1))
right.set_ylim(-1.5, 3 * (hw + 1))
right.set_title("(N, C, H, W): BatchNorm2d")
for ax in (left, right):
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
report.figure(fig, "shared_statistics")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers. They are the counts printed
# above: how many means each batch gives, and over how many values each
# is computed. A reader can skip this section.

# %%
stats_2d = per_channel_stats(x2d)
report.values(
    means_2d=stats_2d[0].numel(), values_2d=stats_2d[2],
    means_4d=stats_4d[0].numel(), values_4d=stats_4d[2],
)
