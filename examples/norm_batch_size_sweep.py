# %% [markdown]
# # BatchNorm and GroupNorm as the batch shrinks
#
# The same small CNN on Fashion-MNIST, once with BatchNorm and once with
# GroupNorm as its normalization layers, trained for one epoch at several
# batch sizes (`BATCH_SIZES`) and seeds, then tested in eval mode.
# BatchNorm's statistics come from the batch, so they get noisy as it
# shrinks; GroupNorm normalizes each sample on its own. A small-scale
# analogue of Wu & He's Figure 1, with a different network, optimizer and
# learning-rate rule (the page lists the differences).
#
# Why this matters for Batch Normalization: in training mode, BatchNorm
# computes its statistics from the current batch. The batch size is
# therefore part of the layer's behaviour, and small batches are a known
# problem (see Wu & He, below). GroupNorm is one alternative that does
# not use the batch at all. This example measures both on the same
# network and data.
#
# ## The set-up
#
# The first cell loads Fashion-MNIST and keeps the first `TRAIN_SIZE`
# training images and the first `TEST_SIZE` test images, to keep the run
# short. `CHANNELS` are the output channels
# of the two convolutions, `GROUPS` the number of groups of GroupNorm,
# and `LR` the learning rate of Adam. The fast build (`FAST`) uses fewer
# images, batch sizes and seeds.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.models import small_cnn
from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.rules import LOWER, MIXED, UNRANKED, All, Paired
from snippets.support.training import accuracy, train

report = Report("norm_batch_size_sweep")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
TRAIN_SIZE = 200 if FAST else 3000
TEST_SIZE = 1000 if FAST else 2000
x_train, y_train = x_train[:TRAIN_SIZE], y_train[:TRAIN_SIZE]
x_test, y_test = x_test[:TEST_SIZE], y_test[:TEST_SIZE]
BATCH_SIZES = [2, 8, 32] if FAST else [2, 8, 32, 128]
CHANNELS, GROUPS, LR, EPOCHS = (8, 16), 4, 1e-3, 1
SEEDS = [0, 1] if FAST else [0, 1, 2]

# %% [markdown]
# ## The sweep
#
# `small_cnn` (in `snippets/experiments/models.py`) has two blocks of
# convolution, normalization, ReLU and max-pooling, then a linear
# classifier. `norm` chooses the normalization layer: `nn.BatchNorm2d`,
# or `nn.GroupNorm` with `GROUPS` groups, which normalizes each sample on
# its own over groups of channels and all positions.
#
# For every layer, batch size and seed, the loop builds a new model,
# trains it for `EPOCHS` epochs with Adam, and measures its accuracy on
# the test images. `train` puts the model in training mode, and
# `accuracy` puts it in eval mode, where BatchNorm uses its running
# statistics.
#
# One seed sets the initial weights and the order of the mini-batches;
# both layers get the same seed at every batch size.
#
# The number of epochs is the same at every batch size. So a smaller
# batch means more optimizer steps over the same images. Keep this in
# mind when you read the results: the batch size changes both the
# statistics of BatchNorm and the number of steps.

# %%
# --8<-- [start:sweep]
norms = {"BatchNorm2d": nn.BatchNorm2d,
         f"GroupNorm({GROUPS}, C)": lambda c: nn.GroupNorm(GROUPS, c)}
results = {}  # (norm, batch size) -> test accuracy per seed
for name, norm in norms.items():
    for batch_size in BATCH_SIZES:
        for seed in SEEDS:
            torch.manual_seed(seed)
            model = small_cnn(channels=CHANNELS, norm=norm)
            train(model, x_train, y_train, epochs=EPOCHS,
                  batch_size=batch_size,
                  optimizer=torch.optim.Adam(model.parameters(), lr=LR),
                  seed=seed, label=f"{name}, batch {batch_size}")
            results.setdefault((name, batch_size), []).append(
                accuracy(model, x_test, y_test))
# --8<-- [end:sweep]

# %% [markdown]
# ## Test accuracy against batch size
#
# The figure has one line per layer, through the mean test accuracy over
# the seeds, and one faint dot per seed. The horizontal axis is the batch
# size on a log scale.
#
# Look at how the gap between the two lines changes from the largest
# batch to the smallest. Then look at the dots: where the dots of the two
# layers overlap at a batch size, the mean alone can mislead. In Wu &
# He's ResNet-50 results, BatchNorm's error grows as the batch per GPU
# shrinks, while GroupNorm's stays about the same. This network, data
# set and budget differ from theirs in many ways, so the same pattern
# need not appear here.

# %%
def mean(values):
    return sum(values) / len(values)


fig, ax = plt.subplots()
for i, name in enumerate(norms):
    accs = [results[name, b] for b in BATCH_SIZES]
    ax.plot(BATCH_SIZES, [mean(a) for a in accs], "o-", color=f"C{i}",
            label=f"{name} (mean)")
    for b, a in zip(BATCH_SIZES, accs):  # every seed, as a faint dot
        ax.scatter([b] * len(a), a, color=f"C{i}", s=10, alpha=0.4)
ax.set_xscale("log", base=2)
ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
ax.set_xlabel("batch size (training)")
ax.set_ylabel("test accuracy (eval mode)")
epochs = f"{EPOCHS} epoch" + ("" if EPOCHS == 1 else "s")
ax.set_title(f"Small CNN, {TRAIN_SIZE:,} Fashion-MNIST images, {epochs}, "
             f"{len(SEEDS)} seeds (dots)", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "sweep")

# %% [markdown]
# ## How many values each BatchNorm statistic is computed from
#
# In training mode a BatchNorm2d statistic pools N x H x W values per
# channel, so with large feature maps even a batch of two gives many
# values.
#
# The cell counts these values for the two BatchNorm layers of
# `small_cnn`, at the smallest batch size of the sweep. A forward hook on
# each BatchNorm2d layer sees the layer's input, and divides its number
# of elements by its number of channels. That is N x H x W, the number
# of values behind each mean and each variance.
#
# Compare the printed counts with the batch size. A batch of a few images
# can still give each statistic many values, because every position of
# the feature map counts. Many values do not make the statistics
# independent of the batch: they all come from the same few images.

# %%
# --8<-- [start:values]
counts = []
probe = small_cnn(channels=(8, 16), norm=nn.BatchNorm2d)
hooks = [m.register_forward_hook(
    lambda m, inputs, out: counts.append(
        inputs[0].numel() // inputs[0].size(1)))
    for m in probe.modules() if isinstance(m, nn.BatchNorm2d)]
probe(x_train[:BATCH_SIZES[0]])  # the smallest batch, in training mode
for hook in hooks:
    hook.remove()
# --8<-- [end:values]
print("values per statistic, per BatchNorm layer:", counts)

# %% [markdown]
# ## BatchNorm against GroupNorm, batch size by batch size
#
# Each row pairs the two layers seed by seed at that batch size only:
# BatchNorm's accuracy minus GroupNorm's on the same seed, the mean and
# range of those differences, and the verdict of `Comparison`. It is
# better or worse only when every seed agrees in sign, within
# seed-to-seed noise when the seeds disagree, and tied when some seeds
# differ one way and the rest not at all.
#
# `Comparison` (in `snippets/support/compare.py`) pairs the two lists of
# accuracies seed by seed. `effect` is the mean of the differences, and
# `paired` their lowest and highest value.

# %%
bn, gn = list(norms)
compare = {b: Comparison(results[bn, b], results[gn, b])
           for b in BATCH_SIZES}
rows = [[b, f"{mean(results[bn, b]):.1%}", f"{mean(results[gn, b]):.1%}",
         f"{100 * compare[b].effect:+.1f}",
         f"{100 * compare[b].paired[0]:+.1f} to "
         f"{100 * compare[b].paired[1]:+.1f}", compare[b].verdict]
        for b in BATCH_SIZES]

# %% [markdown]
# In the table, read the "seed by seed" column before the mean. If its
# range includes zero, the seeds do not agree on which layer did better
# at that batch size, and the last column says so. Compare the rows from
# the smallest batch to the largest: does the difference keep one sign,
# or change sign? With only a few seeds (`SEEDS`), a verdict describes
# these runs only; it is not a rule for other networks or data.

# %%
report.table("sweep", ["Batch size", f"{bn} (mean)", f"{gn} (mean)",
                       "BN minus GN (points)", "seed by seed",
                       "BN against GN"], rows)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# The values are the settings of the sweep, the number of optimizer steps
# at the smallest and the largest batch size, the differences at those
# two batch sizes, and the counts of values per BatchNorm statistic.

# %%
smallest, largest = BATCH_SIZES[0], BATCH_SIZES[-1]
low, high = compare[smallest].paired
report.values(
    train_size=f"{TRAIN_SIZE:,}", test_size=f"{TEST_SIZE:,}",
    seeds=len(SEEDS), smallest=smallest, largest=largest,
    channels_first=CHANNELS[0], channels_second=CHANNELS[1],
    groups=GROUPS, lr=LR, epochs=EPOCHS,
    below_largest_sizes=", ".join(str(b) for b in BATCH_SIZES[:-1]),
    steps_smallest=f"{-(-TRAIN_SIZE // smallest):,}",
    steps_largest=-(-TRAIN_SIZE // largest),
    gap_small=f"{100 * compare[smallest].effect:+.1f}",
    gap_small_low=f"{100 * low:+.1f}", gap_small_high=f"{100 * high:+.1f}",
    gap_large=f"{100 * compare[largest].effect:+.1f}",
    gap_large_low=f"{100 * compare[largest].paired[0]:+.1f}",
    gap_large_high=f"{100 * compare[largest].paired[1]:+.1f}",
    values_first=counts[0], values_second=counts[1])


# %% [markdown]
# Each claim compares BatchNorm with GroupNorm seed by seed at one batch
# size, with the rule `Paired`. `MIXED` asks that the seeds disagree in
# sign. `UNRANKED` asks that BatchNorm is neither higher on every seed
# nor lower on every seed. `LOWER` asks that BatchNorm is lower on every
# seed.

# %%
def bn_minus_gn(batch_size, expect):
    return Paired("test accuracy", f"{bn} at batch size {batch_size}",
                  results[bn, batch_size], gn, results[gn, batch_size],
                  expect, scale=100, unit=" points")


report.claim("bn_gn_within_noise_at_smallest_batch",
             bn_minus_gn(smallest, MIXED))
report.claim("bn_gn_not_ranked_below_largest_batch",
             All([bn_minus_gn(b, UNRANKED) for b in BATCH_SIZES[:-1]]))
report.claim("bn_behind_gn_at_largest_batch", bn_minus_gn(largest, LOWER))
