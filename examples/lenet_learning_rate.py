# %% [markdown]
# # Learning rates with and without BatchNorm
#
# LeNet on Fashion-MNIST, with and without BatchNorm, trained for two epochs
# at learning rates from 0.1 to 100 (SGD, batch size 256). Which rates
# train at all, and how fast does test accuracy rise at each?

# %%
from functools import partial

import matplotlib.pyplot as plt

from snippets.experiments.lenet import fashion_mnist, fit, lenet
from snippets.experiments.models import no_norm
from snippets.support.report import FAST, Report

report = Report("lenet_learning_rate")
LEARNING_RATES = [0.1, 1.0, 10.0, 100.0] if FAST else [
    0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
EPOCHS, BATCH_SIZE = 2, 256
NUM_TRAIN = 8 * BATCH_SIZE if FAST else 234 * BATCH_SIZE  # full batches
# Test accuracy on 2,000 test images, six times per epoch: the curves.
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else 2000)
EVERY = NUM_TRAIN // BATCH_SIZE // (2 if FAST else 6)
# "Trains": test accuracy beats twice chance (10 classes) at some point.
TRAINS = 0.2

# %%
# --8<-- [start:sweep]
models = {"without BatchNorm": partial(lenet, no_norm, no_norm),
          "with BatchNorm": lenet}
runs = {(name, lr): fit(make, dataset, lr=lr, epochs=EPOCHS,
                        batch_size=BATCH_SIZE, evaluate_every=EVERY)
        for name, make in models.items() for lr in LEARNING_RATES}
# --8<-- [end:sweep]

# %%
fig, axes = plt.subplots(1, 3, figsize=(7.2, 3.0), sharey=True)
cmap = plt.get_cmap("viridis")
for ax, name in zip(axes, models):
    for i, lr in enumerate(LEARNING_RATES):
        r = runs[name, lr]
        ax.plot([s / r.steps_per_epoch for s in r.evaluated_at],
                r.test_accuracy, "-", marker=".",
                color=cmap(i / (len(LEARNING_RATES) - 1)), label=f"{lr:g}")
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("epoch")
axes[0].set_ylabel("test accuracy (eval mode)")
axes[0].legend(fontsize=7, title="learning rate", title_fontsize=7, ncol=2,
               loc="upper left")  # the empty part of the plot
for i, name in enumerate(models):
    axes[2].plot(LEARNING_RATES,
                 [runs[name, lr].test_accuracy[-1] for lr in LEARNING_RATES],
                 "o-", color=f"C{i + 2}", label=name)
axes[2].axhline(TRAINS, color="k", lw=0.8, ls=":")
axes[2].set_xscale("log")
axes[2].set_xlabel("learning rate")
axes[2].set_title("after two epochs", fontsize=10)
axes[2].legend(fontsize=7)
report.figure(fig, "learning_rates")

# %%
def trains(r):
    return max(r.test_accuracy) > TRAINS


rows = []
for lr in LEARNING_RATES:
    row = [f"{lr:g}"]
    for name in models:
        r = runs[name, lr]
        row.append(f"{r.test_accuracy[-1]:.1%}"
                   + ("" if trains(r) else " (never above "
                      f"{TRAINS:.0%})"))
    rows.append(row)
report.table("sweep", ["Learning rate"] + [f"Test accuracy, {n}"
                                           for n in models], rows)
for row in rows:
    print(row)


def trained(name):
    return [lr for lr in LEARNING_RATES if trains(runs[name, lr])]


def largest(name):
    good = trained(name)
    return f"{max(good):g}" if good else "none"


def training_range(name):
    good = trained(name)
    if not good:
        return "no rate in the grid"
    if len(good) == 1:
        return f"only the rate {good[0]:g}"
    return f"the rates {min(good):g} to {max(good):g}"


def first_above(name, lr, level):
    """Epoch at which test accuracy first reached ``level``, as text."""
    r = runs[name, lr]
    for step, acc in zip(r.evaluated_at, r.test_accuracy):
        if acc >= level:
            return f"at epoch {step / r.steps_per_epoch:.2f}"
    return "not within the run"


# Milestones for "how fast" at learning rate 1: one each network reaches.
WITH_LEVEL, WITHOUT_LEVEL = 0.7, 0.5
# How much does test accuracy move between two evaluations at lr 1.0?
curve = runs["with BatchNorm", 1.0].test_accuracy
largest_drop = max(a - b for a, b in zip(curve, curve[1:]))
with_1 = runs["with BatchNorm", 1.0].test_accuracy[-1]
without_1 = runs["without BatchNorm", 1.0].test_accuracy[-1]
report.values(
    claim_at_1=("holds at learning rate 1" if with_1 > without_1 else
                "does not hold here at learning rate 1"),
    largest_drop=f"{100 * largest_drop:.1f} percentage points",
    epochs=EPOCHS, steps=EPOCHS * NUM_TRAIN // BATCH_SIZE,
    num_train=f"{NUM_TRAIN:,}", num_test=f"{len(dataset[2]):,}",
    lrs=", ".join(f"{lr:g}" for lr in LEARNING_RATES),
    trains=f"{TRAINS:.0%}",
    largest_without=largest("without BatchNorm"),
    largest_with=largest("with BatchNorm"),
    range_without=training_range("without BatchNorm"),
    range_with=training_range("with BatchNorm"),
    with_at_1=f"{runs['with BatchNorm', 1.0].test_accuracy[-1]:.1%}",
    without_at_1=f"{runs['without BatchNorm', 1.0].test_accuracy[-1]:.1%}",
    with_at_1_level=f"{WITH_LEVEL:.0%}",
    without_at_1_level=f"{WITHOUT_LEVEL:.0%}",
    with_70_at_1=first_above("with BatchNorm", 1.0, WITH_LEVEL),
    without_50_at_1=first_above("without BatchNorm", 1.0, WITHOUT_LEVEL),
)
