# %% [markdown]
# # BatchNorm3d running statistics, by hand and by PyTorch
#
# The example of the second source post ("Normalization (BN and LN) in
# NN"): input shape (3, 2, 2, 2, 3), that is 3 samples, 2 channels, and a
# 2 x 2 x 3 volume per channel; `momentum=0.3`;
# the buffers start at mean 0 and variance 1; two mini-batches. (The post
# gives no data, so this one is seeded random numbers.)
#
# The goal is to follow the two running buffers, `running_mean` and
# `running_var`, through each mini-batch, and to check that a few lines of
# arithmetic give the same numbers as `nn.BatchNorm3d`. If they do, you
# know exactly what the layer stores for inference.

# %% [markdown]
# ## The data
#
# `batches` holds the mini-batches. The random numbers are scaled and
# shifted, so that their mean and variance differ from the buffers'
# starting values; otherwise the updates would be hard to see. Everything
# is in float64, so that rounding errors stay very small. Then any real
# difference between the two computations would be much larger than
# them.

# %%
import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import Below

report = Report("inference_batchnorm3d")
g = torch.Generator().manual_seed(0)
batches = [torch.randn(3, 2, 2, 2, 3, generator=g, dtype=torch.float64) * 2
           + 1 for _ in range(2)]

# %% [markdown]
# ## The update, by hand and by the layer
#
# A BatchNorm3d input has shape (N, C, D, H, W). Each channel gets its own
# statistics, computed over every other dimension: the samples and the
# whole volume. That is why `dims` lists every dimension except 1, the
# channel.
#
# In training mode, each forward pass of `bn` normalizes its input and
# then updates the two buffers. PyTorch's rule puts the weight `momentum`
# on the new batch: `running = (1 - momentum) * running + momentum *
# batch_stat`. So the old value keeps the weight `1 - momentum`. The
# hand-made copy of the rule writes these two weights out as numbers, for
# the `momentum` given to `bn`. Note one detail: the variance
# that goes into `running_var` is the unbiased one (`correction=1`, divide
# by n - 1), while the normalization itself uses the biased one. The loop
# collects, after each batch and for each channel, the hand-made value
# and the layer's buffer side by side.

# %%
# --8<-- [start:by_hand]
bn = nn.BatchNorm3d(2, momentum=0.3, dtype=torch.float64)
mean_by_hand = torch.zeros(2, dtype=torch.float64)   # initial buffers
var_by_hand = torch.ones(2, dtype=torch.float64)
rows = []
for step, x in enumerate(batches, 1):
    bn(x)  # training mode: normalize, then update the buffers
    dims = (0, 2, 3, 4)  # all but the channel: 3 * 2 * 2 * 3 = 36 values
    mean_by_hand = 0.7 * mean_by_hand + 0.3 * x.mean(dims)
    var_by_hand = 0.7 * var_by_hand + 0.3 * x.var(dims, correction=1)
    for c in range(2):
        rows.append([step, c, mean_by_hand[c].item(),
                     bn.running_mean[c].item(), var_by_hand[c].item(),
                     bn.running_var[c].item()])
# --8<-- [end:by_hand]

# %% [markdown]
# The table has one row per batch and channel. Each buffer has two
# columns: the value by hand, then PyTorch's. Read them in pairs: the two
# numbers of a pair should be the same in every digit shown. Read also
# down the rows: after each batch, the buffers move part of the way from
# their starting values towards the statistics of the data. They do not
# jump there at once; this is what a moving average does.

# %%
report.table("batchnorm3d", [
    "After batch", "Channel", "running_mean by hand", "PyTorch",
    "running_var by hand", "PyTorch"],
    [[s, c, f"{a:.6f}", f"{b:.6f}", f"{v:.6f}", f"{w:.6f}"]
     for s, c, a, b, v, w in rows])

# %% [markdown]
# The table rounds its numbers. The next cell looks at all digits: it
# prints the largest difference between the hand-made value and the
# buffer, over both buffers, both channels and both batches. It should be
# at the level of float64 rounding. A larger value would mean the hand
# rule is not the rule PyTorch uses, for example the biased variance
# instead of the unbiased one, or the weight on the wrong side.

# %%
worst = max(max(abs(r[2] - r[3]), abs(r[4] - r[5])) for r in rows)
print("largest difference:", worst)

# %% [markdown]
# What to take from this example: after training, `running_mean` and
# `running_var` are exponential moving averages of the batch means and
# of the unbiased batch variances, with the weight `momentum` on each new
# batch. In evaluation mode, BatchNorm3d normalizes with these two
# buffers.

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and the claim is a rule that the
# build checks against this run. A reader can skip this section.

# %%
report.values(worst=f"{worst:.1e}",
              values_per_channel=batches[0][:, 0].numel())
report.claim("batchnorm3d_hand_matches_torch", Below(
    "largest |by hand - PyTorch|", worst, 1e-12))
