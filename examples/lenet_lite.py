# %% [markdown]
# # "Lite" BatchNorm: only the mean, only the variance, or fixed gamma, beta
#
# In training mode, BatchNorm does two things to each channel: it
# subtracts the batch mean and divides by the batch standard deviation,
# then applies a learned scale (gamma) and shift (beta). Here LeNet is
# trained with each half alone, and with gamma and beta frozen at 1 and 0
# (`affine=False`), with the same few seeds (printed below) as full
# BatchNorm.

# %%
import math
from functools import partial

from torch import nn

from snippets.experiments.lenet import (
    compare,
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

# %%
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {STEPS} steps, "
                  f"lr {LR}")
report.figure(fig, "lite")
reference = "full BatchNorm"
for metric, table in [("test accuracy", "accuracy"),
                      ("last-epoch loss", "loss")]:
    rows = comparison_table(report, table, results, reference, metric,
                            "Normalization")
    for row in rows:
        print(row)

# %% [markdown]
# ## Verdicts the page states
#
# Better or worse only when every seed of one variant beats every seed of
# the other (`snippets/support/compare.py`); how far below full BatchNorm
# each half ended; and where the halves' training loss ended relative to
# the loss of a uniform guess, ln 10.

# %%
halves = ["mean only", "variance only"]
fixed = "gamma, beta fixed (affine=False)"
accuracy = {n: compare(results, n, reference, "test accuracy")
            for n in variants if n != reference}
loss = {n: compare(results, n, reference, "last-epoch loss")
        for n in variants if n != reference}
FAR = 0.10  # "far below": at least 10 points lower on every seed
report.claim("halves_far_below_full", all(
    accuracy[n].verdict == "worse" and accuracy[n].paired[1] <= -FAR
    for n in halves), {
        f"{n}, per-seed difference in test accuracy, closest (points)":
            100 * accuracy[n].paired[1] for n in halves})
chance = math.log(10)
lowest_loss = {n: min(measured(results, n, "last-epoch loss"))
               for n in halves}
report.claim("halves_loss_above_chance", all(
    value > chance for value in lowest_loss.values()), {
        **{f"{n}, lowest last-epoch loss": lowest_loss[n] for n in halves},
        "ln 10": chance})
report.claim("fixed_loss_higher", loss[fixed].verdict == "worse", {
    "difference in last-epoch loss": loss[fixed].effect,
    "per seed, lowest": loss[fixed].paired[0],
    "per seed, highest": loss[fixed].paired[1]})
report.claim("fixed_accuracy_not_ranked",
             accuracy[fixed].verdict == "within seed-to-seed noise", {
                 "difference in test accuracy (points)":
                     100 * accuracy[fixed].effect,
                 "per seed, lowest": 100 * accuracy[fixed].paired[0],
                 "per seed, highest": 100 * accuracy[fixed].paired[1]})
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", seeds=len(SEEDS),
    steps=STEPS, chance=f"{chance:.2f}",
    mean_loss_min=f"{lowest_loss['mean only']:.2f}",
    variance_loss_min=f"{lowest_loss['variance only']:.2f}",
    far=f"{100 * FAR:.0f}",
)
