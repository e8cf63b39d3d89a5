# %% [markdown]
# # "Lite" BatchNorm: only the mean, only the variance, or fixed gamma, beta
#
# BatchNorm does two things to each channel: it subtracts the batch mean and
# divides by the batch standard deviation, then applies a learned scale
# (gamma) and shift (beta). Here LeNet is trained with each half alone, and
# with gamma and beta frozen at 1 and 0 (`affine=False`), three seeds each.

# %%
import math
from functools import partial

from torch import nn

from snippets.experiments.lenet import (compared_with, fashion_mnist,
                                        last_epoch_loss, lenet, repeat,
                                        seed_figure, seed_rows)
from snippets.layers.lite_batchnorm import LiteBatchNorm
from snippets.support.report import FAST, Report

report = Report("lenet_lite")
LR, EPOCHS, BATCH_SIZE = 1.0, 2, 256
NUM_TRAIN = 8 * BATCH_SIZE if FAST else 78 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS = EPOCHS * NUM_TRAIN // BATCH_SIZE
dataset = fashion_mnist(NUM_TRAIN, 1000 if FAST else None)

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
# Test accuracy once, at the end: the comparison needs no curves.
results = repeat(variants, dataset, seeds=SEEDS, lr=LR, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, evaluate_every=STEPS)
# --8<-- [end:variants]

# %%
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {EPOCHS} epochs, "
                  f"lr {LR}")
report.figure(fig, "lite")
rows = seed_rows(results)
report.table("lite", ["Normalization", f"Test accuracy, {len(SEEDS)} seeds",
                      "Last-epoch training loss"], rows)
for row in rows:
    print(row)

# %%
# Short words ("worse on every seed"): the page names the reference.
by_accuracy = compared_with(results, "full BatchNorm", label="")
by_loss = compared_with(results, "full BatchNorm", "last-epoch loss",
                        label="")
keys = [("mean", "mean only"), ("variance", "variance only"),
        ("fixed", "gamma, beta fixed (affine=False)")]
halves_worse = all(by_accuracy[name].startswith("worse")
                   for name in ("mean only", "variance only"))
chance = math.log(10)  # the loss of a uniform guess over ten classes
above_chance = [name for name in ("mean only", "variance only")
                if min(last_epoch_loss(r) for r in results[name]) > chance]
report.values(
    halves=("neither half alone comes close to full BatchNorm: the "
            "network needs both" if halves_worse else
            "at least one half alone is not clearly worse than both"),
    above_chance=(" and ".join(above_chance) + " ended with a training "
                  f"loss above chance level (ln 10 = {chance:.2f}) on "
                  "every seed" if above_chance else
                  "every variant ended below chance-level loss"),
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", seeds=len(SEEDS),
    **{f"{key}_acc": by_accuracy[name] for key, name in keys},
    **{f"{key}_loss": by_loss[name] for key, name in keys},
    **{f"{key}_row": rows[i + 1][1] for i, (key, _) in enumerate(keys)},
    full_row=rows[0][1],
)
