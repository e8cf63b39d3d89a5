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
# A variant is better or worse than full BatchNorm when the per-seed
# difference has the same sign on every seed, within seed-to-seed noise
# when the seeds disagree in sign, and tied when some seeds differ one way
# and the rest not at all (`snippets/support/compare.py`);
# how far below full BatchNorm each half ended; and where the halves'
# training loss ended relative to the loss of a uniform guess, ln 10.

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
