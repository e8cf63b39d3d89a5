# %% [markdown]
# # "Lite" BatchNorm: only the mean, only the variance, or fixed gamma, beta
#
# In training mode, BatchNorm does two things to each channel: it
# subtracts the batch mean and divides by the batch standard deviation,
# then applies a learned scale (gamma) and shift (beta). Here LeNet is
# trained with each half alone, and with gamma and beta frozen at 1 and 0
# (`affine=False`), with the same few seeds (printed below) as full
# BatchNorm.
#
# Why this matters for Batch Normalization: the layer combines several
# operations, and it is natural to ask which of them a network needs.
# Centring (subtracting the mean) and scaling (dividing by the standard
# deviation) are the two halves of the normalization. Gamma and beta are
# the learned scale and shift that come after it. Switching each part off
# in turn, with everything else kept the same, measures how the accuracy
# and the loss change without it, in this set-up.

# %%
import math
from functools import partial

from torch import nn

from snippets.experiments.lenet import (
    comparison_table,
    fashion_mnist,
    final_stretch,
    lenet,
    measured,
    repeat,
    seed_figure,
)
from snippets.layers.lite_batchnorm import LiteBatchNorm
from snippets.support.report import FAST, Report
from snippets.support.rules import (
    HIGHER,
    LOWER,
    Above,
    All,
    Greater,
    Paired,
)

# %% [markdown]
# ## The settings
#
# Every variant is LeNet as in the d2l book (sigmoid activations, average
# pooling), trained with SGD at learning rate `LR` for `EPOCHS` epochs of
# mini-batches of `BATCH_SIZE`. `NUM_TRAIN` is a whole number of batches,
# so every step sees a full batch. The fast build (`FAST`) trains on fewer
# images and seeds.
#
# A test accuracy measured once, at the last step, can depend on that one
# step. `final_stretch` picks evaluation steps spread over the last
# epoch, and the test accuracy of a run is the mean of those evaluations.
# The printed line gives the seeds, the number of steps, the evaluation
# steps and the size of the test set.

# %%
report = Report("lenet_lite")
LR, EPOCHS, BATCH_SIZE = 1.0, 2, 256
NUM_TRAIN = 4 * BATCH_SIZE if FAST else 34 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS_PER_EPOCH = NUM_TRAIN // BATCH_SIZE
STEPS = EPOCHS * STEPS_PER_EPOCH
# Test accuracy: the mean of three evaluations spread over the last epoch.
EVALUATE_AT = final_stretch(STEPS, STEPS_PER_EPOCH)
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else 2000)
print(f"seeds {SEEDS}; {STEPS} steps; test accuracy after steps "
      f"{EVALUATE_AT} on {len(dataset[2]):,} test images")

# %% [markdown]
# ## The variants
#
# `LiteBatchNorm` (in `snippets/layers/lite_batchnorm.py`) is BatchNorm
# with either half switched off. With `scale=False` it only subtracts the
# mean, and keeps the spread of each channel ("mean only"). With
# `center=False` it only divides by the standard deviation, and keeps the
# mean ("variance only"). Both keep their learned weight and bias.
# `partial` fixes these arguments, so that `lenet` can build the layer for
# any number of channels. The same class serves the convolutional and the
# linear layers of LeNet, the two positional arguments of `lenet`.
#
# The last variant uses PyTorch's own layers with `affine=False`: no
# gamma and no beta, so the normalized values go to the sigmoid as they
# are.
#
# `repeat` trains every variant once per seed. One seed gives every
# variant the same batches and the same initial weights of the
# convolutional and linear layers, so within a seed the only difference
# is the normalization layer.

# %%
# --8<-- [start:variants]
mean_only = partial(LiteBatchNorm, scale=False)
variance_only = partial(LiteBatchNorm, center=False)
variants = {
    "full BatchNorm": lenet,
    "mean only": partial(lenet, mean_only, mean_only),
    "variance only": partial(lenet, variance_only, variance_only),
    "gamma, beta fixed (affine=False)": partial(
        lenet, partial(nn.BatchNorm2d, affine=False),
        partial(nn.BatchNorm1d, affine=False)),
}
results = repeat(variants, dataset, seeds=SEEDS, lr=LR, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, evaluate_at=EVALUATE_AT)
# --8<-- [end:variants]

# %% [markdown]
# ## Every run, seed by seed
#
# The figure has two panels: test accuracy on the left, the training loss
# over the last epoch on the right. Each row is one variant. Each marker
# is one run, and the same marker shape is the same seed in every row.
# The short bar is the mean over the seeds.
#
# First compare each row with the row of full BatchNorm: do the markers
# of a variant sit apart from those of full BatchNorm, or among them? Then
# look at the loss panel, and compare each loss with ln 10, the
# cross-entropy of a uniform guess over the ten classes. A loss at or
# above ln 10 is, by this measure, no better than that guess.

# %%
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {STEPS} steps, "
                  f"lr {LR}")
report.figure(fig, "lite")

# %% [markdown]
# The two tables give the same runs as numbers, one table per metric.
# Each row compares a variant with full BatchNorm, seed by seed: the
# difference column gives the mean of the per-seed differences and their
# range.
#
# A variant is better or worse than full BatchNorm when the per-seed
# difference has the same sign on every seed. It is within seed-to-seed
# noise when the seeds disagree in sign. It is tied when some seeds differ
# one way and the rest not at all (`snippets/support/compare.py`).
#
# Read the range of the differences together with the verdict. A verdict
# over a few seeds describes these runs only. Also compare the size of
# each difference: a variant can be worse on every seed by a small amount,
# or by a large one.

# %%
reference = "full BatchNorm"
for metric, table in [("test accuracy", "accuracy"),
                      ("last-epoch loss", "loss")]:
    comparison_table(report, table, results, reference, metric,
                     "Normalization")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# The claims state how far below full BatchNorm each half ended, where
# the halves' training loss ended relative to the loss of a uniform
# guess, ln 10, and how fixed gamma and beta compare with full BatchNorm.
# `halves_far_below_full` asks that each half is lower than full
# BatchNorm on every seed, and that even its smallest drop, in points, is
# above `100 * FAR`. `halves_loss_above_chance` asks that even the lowest
# loss of each half, over the seeds, is above ln 10. The two claims on
# fixed gamma and beta are seed-by-seed comparisons with full BatchNorm.

# %%
halves = ["mean only", "variance only"]
fixed = "gamma, beta fixed (affine=False)"
accuracy = {n: measured(results, n, "test accuracy") for n in variants}
loss = {n: measured(results, n, "last-epoch loss") for n in variants}
FAR = 0.10  # "far below": at least 10 points lower on every seed
report.claim("halves_far_below_full", All([
    rule for n in halves for rule in (
        Paired("test accuracy", n, accuracy[n], reference,
               accuracy[reference], LOWER, scale=100, unit=" points"),
        Above(f"smallest per-seed drop from {reference}, {n} (points)",
              100 * min(a - b for a, b in zip(accuracy[reference],
                                              accuracy[n])),
              100 * FAR))]))
chance = math.log(10)
lowest_loss = {n: min(loss[n]) for n in halves}
report.claim("halves_loss_above_chance", All([
    Greater(f"lowest last-epoch loss over seeds, {n}", lowest_loss[n],
            "ln 10 (a uniform guess)", chance) for n in halves]))
# Shorter name for the claims page.
fixed_label = "fixed gamma and beta (affine=False)"
report.claim("fixed_loss_higher",
             Paired("last-epoch loss", fixed_label, loss[fixed], reference,
                    loss[reference], HIGHER))
report.claim("fixed_accuracy_lower",
             Paired("test accuracy", fixed_label, accuracy[fixed],
                    reference, accuracy[reference], LOWER, scale=100,
                    unit=" points"))
fixed_drop = [100 * (b - a) for a, b in zip(accuracy[fixed],
                                            accuracy[reference])]
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", seeds=len(SEEDS),
    steps=STEPS, chance=f"{chance:.2f}",
    mean_loss_min=f"{lowest_loss['mean only']:.2f}",
    variance_loss_min=f"{lowest_loss['variance only']:.2f}",
    far=f"{100 * FAR:.0f}", variants=len(variants),
    fixed_drop_low=f"{min(fixed_drop):.1f}",
    fixed_drop_high=f"{max(fixed_drop):.1f}",
)
