# %% [markdown]
# # A batch of two, by hand and by nn.BatchNorm1d
#
# The worked example of the first source post ("continuing our small
# example"): the feature vectors x = [0.23, 1.26, -2.41] and
# x_a = [0.56, 0.75, 1.00] form one mini-batch. The post says
# gamma = beta = 1, but its outputs are those of gamma = 1 and beta = 0,
# which we use. Each feature is normalized with its own mean and variance
# over the two samples.
#
# A batch this small is easy to follow by hand. It also shows two things
# that hold for any batch of two. First, each output is close to -1 or +1,
# unless the two values are nearly equal. Second, the choice between the
# biased and the unbiased variance changes every output. The source post's
# table uses the unbiased variance, where PyTorch normalizes with the biased
# one; the claims at the end check this against the post's number.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import HIGHER, Above, All, Below, Extreme

report = Report("bn_worked_example")
torch.set_printoptions(precision=4)

# %% [markdown]
# `torch.set_printoptions` above only shortens the printed numbers.
#
# ## The batch
#
# The two samples are the rows of `x`, so `x` has the shape `(N, C)` that
# `nn.BatchNorm1d` expects, with two samples and three features. The
# layer is created in float64 so that rounding errors stay tiny.
# `bn.train()` makes it normalize with the statistics of this batch. Its
# weight (gamma) is 1 and its bias (beta) is 0 by default, so
# the output is the normalized value itself.
#
# Look at the printed output column by column. Each column is one feature,
# and its two values should have opposite signs and the same size. With
# two values, each lies as far above the mean as the other lies below it.

# %%
# --8<-- [start:batch]
x = torch.tensor([[0.23, 1.26, -2.41],    # sample x
                  [0.56, 0.75, 1.00]],    # sample x_a
                 dtype=torch.float64)
bn = nn.BatchNorm1d(num_features=3, dtype=torch.float64)  # gamma=1, beta=0
bn.train()  # normalize with this batch's statistics
y = bn(x)
# --8<-- [end:batch]
y = y.detach()  # plain numbers from here on
print(y)

# %% [markdown]
# ## The statistics, per feature
#
# `nn.BatchNorm1d` normalizes with the biased variance (divide by N = 2).
# The unbiased variance (divide by N - 1 = 1) is what `running_var` is
# updated with, and what the source post's table uses in this step.
#
# The code computes both variances per feature, over the samples
# (`dim=0`). `by_hand` is step 3 of the algorithm with the biased
# variance, and the layer's own `eps`. `with_unbiased` is the same step
# with the unbiased variance, which is not what the layer does; it is
# computed only to compare with the source post.
#
# The printed line is the largest difference between `by_hand` and the
# layer's output `y`. It should be at the level of float64 rounding: then
# the few lines above are exactly what `nn.BatchNorm1d` computes.

# %%
# --8<-- [start:stats]
mean = x.mean(dim=0)
var_biased = x.var(dim=0, correction=0)    # what the layer normalizes with
var_unbiased = x.var(dim=0, correction=1)  # what running_var is fed
by_hand = (x - mean) / torch.sqrt(var_biased + bn.eps)
with_unbiased = (x - mean) / torch.sqrt(var_unbiased + bn.eps)
# --8<-- [end:stats]
max_difference = (by_hand - y).abs().max().item()
print("largest |by hand - nn.BatchNorm1d|:", max_difference)

# %% [markdown]
# The table puts every number of the example side by side, one row per
# feature. Compare the two variance columns: with N = 2 the unbiased
# variance is twice the biased one, since it divides the same sum by
# N - 1 = 1 instead of N = 2. Then compare the last two columns. The
# layer's outputs should be close to -1 and +1; the outputs with the
# unbiased variance are smaller in size by a factor close to sqrt(2). The
# claims at the end check which of the two variances the post's table
# shows.

# %%
rows = []
for j in range(3):
    rows.append([
        f"{j + 1}", f"[{x[0, j]:.2f}, {x[1, j]:.2f}]", f"{mean[j]:.3f}",
        f"{var_biased[j]:.6f}", f"{var_unbiased[j]:.6f}",
        f"[{y[0, j]:.5f}, {y[1, j]:.5f}]",
        f"[{with_unbiased[0, j]:.5f}, {with_unbiased[1, j]:.5f}]"])
report.table("statistics",
             ["Feature", "Values (x, x_a)", "Mean", "Biased var",
              "Unbiased var", "nn.BatchNorm1d output",
              "Output with unbiased var"], rows)

# %% [markdown]
# ## Any batch of two
#
# With two values a and b, the mean is halfway and the biased variance is
# ((a - b) / 2)^2, so each output is +-|a - b| / 2 divided by
# sqrt(((a - b) / 2)^2 + eps): close to +-1 when |a - b| is much larger
# than 2 sqrt(eps) (about 0.006), pulled towards 0 by eps otherwise.
# With the unbiased variance ((a - b)^2 / 2) it would be about
# +-1/sqrt(2).
#
# The figure shows each feature on its own line. The grey circles are the
# two input values, the blue squares the outputs of `nn.BatchNorm1d`, and
# the red triangles the outputs with the unbiased variance. However far
# apart the two inputs are, the blue squares should land near -1 and +1,
# and the red triangles near -1/sqrt(2) and +1/sqrt(2). Only a feature
# whose two values are very close would have its squares pulled visibly
# towards 0 by eps.
#
# This is why a batch of two tells the next layer little: in each feature
# it says only which of the two samples is larger. And each output
# depends on which other sample happens to be in the batch.

# %%
fig, ax = plt.subplots(figsize=(7.2, 2.8))
for j in range(3):
    ax.plot([x[0, j], x[1, j]], [j, j], "o-", color="0.6")
    ax.plot([y[0, j], y[1, j]], [j + 0.15] * 2, "s", color="C0",
            label="nn.BatchNorm1d output" if j == 0 else None)
    ax.plot([with_unbiased[0, j], with_unbiased[1, j]], [j - 0.15] * 2,
            "^", color="C3",
            label="with the unbiased variance" if j == 0 else None)
ax.plot([], [], "o-", color="0.6", label="input values")
ax.set_yticks([0, 1, 2], [f"feature {j + 1}" for j in range(3)])
ax.set_xlabel("value")
ax.legend(loc="lower left", fontsize=8)
ax.set_title("Each feature of a batch of two maps to about -1 and +1")
report.figure(fig, "batch_of_two")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section. The code
# also measures, for each feature, how far its outputs are pulled towards
# 0 (`pull`), to find the feature that eps affects most.

# %%
magnitude = y.abs()
gaps = (x[0] - x[1]).abs()
shrink_feature = int(magnitude.min(dim=0).values.argmin())
report.values(
    max_difference=f"{max_difference:.1e}",
    smallest_output=f"{magnitude.min():.5f}",
    largest_output=f"{magnitude.max():.5f}",
    inv_sqrt2=f"{2 ** -0.5:.5f}",
    shrink_feature=shrink_feature + 1,
)
report.claim("worked_example_matches_torch", Below(
    "largest |by hand - nn.BatchNorm1d|", max_difference, 1e-12))
# "Nearly +-1": every output within 0.001 of +-1.
report.claim("batch_of_two_near_unit", Below(
    "largest distance of an |output| from 1",
    (magnitude - 1).abs().max().item(), 1e-3))
# The pull towards 0 of each feature, 1 - |output| (the smaller of the
# two outputs), is largest for the feature whose two values are closest.
pull = {f"feature {j + 1}": 1 - magnitude[:, j].min().item()
        for j in range(3)}
closest = f"feature {int(gaps.argmin()) + 1}"
report.claim("closest_pair_pulled_most", Extreme(
    "pull towards 0, 1 - |output|", pull, closest, HIGHER))
# The post's table (section "continuing our small example") gives 0.054
# as the first feature's variance: the unbiased one, to three decimals.
report.claim("post_variance_is_unbiased", All([
    Below("|unbiased variance of feature 1 - the post's 0.054|",
          abs(var_unbiased[0].item() - 0.054), 0.0005),
    Above("|biased variance of feature 1 - the post's 0.054|",
          abs(var_biased[0].item() - 0.054), 0.0005)]))
