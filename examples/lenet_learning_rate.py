# %% [markdown]
# # Learning rates with and without BatchNorm
#
# LeNet on Fashion-MNIST, with and without BatchNorm, trained with SGD
# (batch size `BATCH_SIZE`) at learning rates that grow by a constant
# factor, one seed per run. Which rates train at all, and how fast does
# test accuracy rise at each? The network without BatchNorm gets more
# steps than the one with it (the experiments page says why).
#
# A common statement is that BatchNorm "allows higher learning rates". This
# example measures what that means for one network: the range of rates that
# train, and how quickly each run starts to learn. One seed per run is
# enough to see a range, but not to place its edges exactly.

# %% [markdown]
# ## Settings
#
# `NUM_TRAIN` is a whole number of batches of `BATCH_SIZE` images, so that
# every step has the same batch size. The test accuracy is measured in
# eval mode on the first test images of the data set, every `EVERY`
# steps.
#
# `TRAINS` defines what "trains" means here: the test accuracy goes above
# twice the accuracy of a random guess over ten classes, at least once
# during the run. This threshold is low on purpose. It separates the runs
# that learned something from the runs that did not, without judging how
# well they learned.

# %%
import math
from functools import partial

import matplotlib.pyplot as plt

from snippets.experiments.lenet import fashion_mnist, fit, lenet
from snippets.experiments.models import no_norm
from snippets.support.report import FAST, Report, at_most
from snippets.support.rules import Above, All, Below, Equal, Greater

report = Report("lenet_learning_rate")
BATCH_SIZE = 256
NUM_TRAIN = 8 * BATCH_SIZE if FAST else 234 * BATCH_SIZE  # full batches
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else 2000)
EVERY = 2 if FAST else 39
TRAINS = 0.2

# %% [markdown]
# ## The sweep
#
# `models` gives each network its builder, its number of training images,
# its number of epochs and its grid of learning rates. `no_norm` is a
# stand-in that does nothing, so `partial(lenet, no_norm, no_norm)` is
# LeNet without normalization. The network with BatchNorm trains on fewer
# images (`NUM_TRAIN // 2`) for fewer epochs, so it gets fewer steps.
# Fewer steps give a slow run less time to start learning. So the smaller
# budget is meant to make the comparison harder for BatchNorm, not
# easier. The code does not check that it does: the runs with BatchNorm
# see only the first half of the images, in another order, so they are
# not the first part of a longer run.
#
# For each network and each rate, `fit` trains a fresh model from the
# same seed and records the loss of every step and the test accuracy
# every `EVERY` steps. `runs` keeps each result under (network, rate).

# %%
# --8<-- [start:sweep]
# name: (model, training images, epochs, learning rates). Without
# BatchNorm the grid stops at 10 (a claim below checks that 10 failed).
# The network with BatchNorm gets a quarter of the steps, which can only
# narrow its own range of rates.
models = {"without BatchNorm": (partial(lenet, no_norm, no_norm),
                                NUM_TRAIN, 2, [0.1, 1.0, 10.0]),
          "with BatchNorm": (lenet, NUM_TRAIN // 2, 1,
                             [0.1, 1.0, 10.0, 100.0])}
runs = {}
for name, (make, num_train, epochs, rates) in models.items():
    steps = epochs * num_train // BATCH_SIZE
    data = (dataset[0][:num_train], dataset[1][:num_train]) + dataset[2:]
    for lr in rates:
        runs[name, lr] = fit(make, data, lr=lr, epochs=epochs,
                             batch_size=BATCH_SIZE,
                             evaluate_at=range(EVERY, steps + 1, EVERY))
# --8<-- [end:sweep]

# %% [markdown]
# Two short lists for the figure and the table: `RATES` gives each
# network its grid of rates, and `ALL_RATES` is every rate tried, in
# order, so that a rate gets the same colour in every panel.

# %%
RATES = {name: rates for name, (_, _, _, rates) in models.items()}
ALL_RATES = sorted({lr for _, lr in runs})

# %% [markdown]
# ## Test accuracy during training
#
# The figure has three panels:
#
# - **Left and middle**: test accuracy against the step, one line per
#   learning rate, without and with BatchNorm. The two panels share the
#   step axis, so the shorter runs with BatchNorm end further left.
# - **Right**: the best evaluation of each run against its learning rate,
#   one line per network.
#
# The dotted line is `TRAINS`. A run whose line never rises above it did
# not train. What to look for:
#
# - In each of the first two panels, which rates rise above the dotted
#   line, and how soon? A flat line near the bottom is a run that did not
#   learn: either stuck on a plateau, or diverged.
# - In the right panel, compare the range of rates above the dotted line
#   for the two networks. A wider range with BatchNorm is what "allows
#   higher learning rates" means in this measurement.
# - In the right panel, is the largest rate that trains also the best
#   one? A rate can train and still end worse than a smaller rate.

# %%
COLORS = {"without BatchNorm": "C0", "with BatchNorm": "C2"}  # as curves.svg
fig, axes = plt.subplots(1, 3, figsize=(7.2, 3.0), sharey=True)
axes[0].sharex(axes[1])  # one step axis: the two budgets side by side
cmap = plt.get_cmap("viridis")
for ax, name in zip(axes, models):
    for lr in RATES[name]:
        r = runs[name, lr]
        ax.plot(r.evaluated_at, r.test_accuracy, "-", marker=".",
                color=cmap(ALL_RATES.index(lr) / (len(ALL_RATES) - 1)),
                label=f"{lr:g}")
    ax.axhline(TRAINS, color="k", lw=0.8, ls=":")  # "trains" above this
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("step")
axes[0].set_ylabel("test accuracy (eval mode)")
axes[1].legend(fontsize=7, title="learning rate", title_fontsize=7,
               loc="center right")
for name in models:
    axes[2].plot(RATES[name], [max(runs[name, lr].test_accuracy)
                               for lr in RATES[name]],
                 "o-", color=COLORS[name], label=name)
axes[2].axhline(TRAINS, color="k", lw=0.8, ls=":")
axes[2].set_xscale("log")
axes[2].set_xlabel("learning rate")
axes[2].set_title("best evaluation", fontsize=10)
axes[2].legend(fontsize=7, loc="upper right")
axes[0].set_ylim(0, 1)
fig.suptitle(f"LeNet, batch {BATCH_SIZE}, one seed per run", fontsize=10)
report.figure(fig, "learning_rates")

# %% [markdown]
# ## Every run in a table
#
# Two small helpers. `trains` applies the `TRAINS` rule to one run.
# `last_epoch_loss` is the mean training loss over the last epoch, which
# is steadier than the loss of one step; it is NaN once a run has
# diverged.
#
# The table has one row per run. Read the last column first: which runs
# trained. Then read the loss column for the runs that did not train. A
# loss near ln 10 (about 2.303) is the loss of a uniform guess over ten
# classes: the run is stuck on a plateau. A loss far above it, or NaN,
# means that the run diverged. The two cases fail for opposite reasons:
# a rate too small to leave the plateau within the steps given, or a
# rate too large.
#
# Also compare "Best test accuracy" with "Last test accuracy". A large
# difference means that the accuracy moved a lot between evaluations, so
# a single snapshot can mislead.

# %%
def trains(r):
    return max(r.test_accuracy) > TRAINS


def last_epoch_loss(r):
    """Mean training loss over the last epoch (NaN once it diverged)."""
    losses = r.losses[-r.steps_per_epoch:]
    return sum(losses) / len(losses)


rows = []
for name in models:
    for lr in RATES[name]:
        r = runs[name, lr]
        rows.append([name, f"{lr:g}", f"{max(r.test_accuracy):.1%}",
                     f"{r.test_accuracy[-1]:.1%}",
                     f"{last_epoch_loss(r):.3f}",
                     "yes" if trains(r) else "no"])
report.table("sweep", ["Model", "Learning rate", "Best test accuracy",
                       "Last test accuracy", "Mean loss, last epoch",
                       "Trains"], rows)


# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers recorded here, and each claim is a
# rule that the build checks against this run. A reader can skip this
# section.
#
# The claims check which rates train, and how fast. They compare the
# rates that train with and without BatchNorm. At one learning rate, the
# rate in the name `bn_faster_at_lr1`, they compare the first evaluation
# at which each network reaches `HALF` test accuracy. They also check
# whether the rates below that one, without BatchNorm, ended at the
# chance-level loss (ln 10).
#
# Two helpers first. `trained` lists the rates at which a network trained.
# `first_step_at` gives the step of the first evaluation at or above a
# level, or None if the run never got there.

# %%
def trained(name):
    return [lr for lr in RATES[name] if trains(runs[name, lr])]


def first_step_at(name, lr, level):
    """Step of the first evaluation at or above ``level`` (None: none)."""
    r = runs[name, lr]
    for step, acc in zip(r.evaluated_at, r.test_accuracy):
        if acc >= level:
            return step
    return None


# %% [markdown]
# `bn_widens_trainable_rates` checks what "widens" means here. It asks
# that more rates train with BatchNorm than without it. It asks that
# every rate that trained without BatchNorm also trained with it, and
# that no rate inside the range with BatchNorm failed to train. It also
# asks that the largest rate tried without BatchNorm did not train, so
# that the grid without BatchNorm does not stop too early.

# %%
with_bn, without_bn = trained("with BatchNorm"), trained("without BatchNorm")
in_range = [lr for lr in RATES["with BatchNorm"]
            if with_bn and with_bn[0] <= lr <= with_bn[-1]]
grid_end = max(RATES["without BatchNorm"])  # the largest rate tried
report.claim("bn_widens_trainable_rates", All([
    Greater("number of rates that trained with BatchNorm", len(with_bn),
            "without BatchNorm", len(without_bn)),
    Equal("rates that trained without BatchNorm but not with it",
          len(set(without_bn) - set(with_bn)), 0),
    Equal("rates inside the range with BatchNorm that did not train",
          len(set(in_range) - set(with_bn)), 0),
    Equal(f"runs that trained at {grid_end:g} without BatchNorm",
          int(grid_end in without_bn), 0)]))

# %% [markdown]
# `bn_faster_at_lr1` checks "faster" at the learning rate in its name. It
# asks that the network with BatchNorm first reaches `HALF` test accuracy
# at an earlier evaluation than the network without it. A run that never
# reached `HALF` counts as reaching it one evaluation past the end of the
# longer run (`never`). So if the run with BatchNorm never got there, the
# claim fails.

# %%
HALF = 0.5
at_half = {name: first_step_at(name, 1.0, HALF) for name in models}
never = len(runs["without BatchNorm", 1.0].losses) + EVERY
report.claim("bn_faster_at_lr1", Greater(
    f"step at which test accuracy first reached {HALF:.0%}, without "
    f"BatchNorm (never: {never})", at_half["without BatchNorm"] or never,
    "with BatchNorm", at_half["with BatchNorm"] or never))

# %% [markdown]
# `low_rates_on_plateau` looks at the rates without BatchNorm that are
# below the rate in the name `bn_faster_at_lr1` (`low`). Is each run
# still at the loss of a uniform guess (a plateau), above it (diverged),
# or below it (trained)? The claim asks for a last-epoch loss within
# `PLATEAU` of ln 10 at each of these rates.

# %%
chance = math.log(10)
PLATEAU = 0.05  # how close to ln 10 counts as the loss of a uniform guess
low = [lr for lr in RATES["without BatchNorm"] if lr < 1]
slow = [lr for lr in low if lr not in without_bn]
loss_of = {lr: last_epoch_loss(runs["without BatchNorm", lr]) for lr in low}
report.claim("low_rates_on_plateau", All([
    Below(f"distance of the last-epoch loss at {lr:g} without BatchNorm "
          f"({loss_of[lr]:.3f}) from ln 10", abs(loss_of[lr] - chance),
          PLATEAU) for lr in low]))

# %% [markdown]
# `largest_rate_not_best` checks that, with BatchNorm, the largest rate
# that trains is not the best one. `top` is the best evaluation of each
# run with BatchNorm. The claim asks that the rate with the best
# evaluation is ahead of the largest rate that trained by more than the
# margin in the rule, in points. Then the two accuracies that the page
# shows clearly differ.

# %%
top = {lr: max(runs["with BatchNorm", lr].test_accuracy)
       for lr in RATES["with BatchNorm"]}
best_with = max(top, key=top.get)  # the rate with the best evaluation
largest = max(with_bn, default=min(top))  # the largest rate that trained
report.claim("largest_rate_not_best", Greater(
    f"best test accuracy with BatchNorm at the rate {best_with:g} (%)",
    100 * top[best_with],
    f"at the largest rate that trained, {largest:g} (%)",
    100 * top[largest], margin=1))

# %% [markdown]
# How much does one snapshot of test accuracy move? `largest_drop` is the
# largest drop between two evaluations `EVERY` steps apart, over the runs
# with BatchNorm that trained. `snapshot_drops` asks for a drop larger
# than the claim's bound, in points.

# %%
largest_drop = max((a - b for lr in with_bn for a, b in zip(
    runs["with BatchNorm", lr].test_accuracy,
    runs["with BatchNorm", lr].test_accuracy[1:])), default=0.0)
report.claim("snapshot_drops", Above(
    f"largest drop of test accuracy between two evaluations {EVERY} steps "
    "apart, with BatchNorm (points)", 100 * largest_drop, 1))

# %% [markdown]
# The numbers the page quotes. The `assert` checks that the rates form a
# geometric grid, so that the page can give one factor between
# neighbouring rates. A dash stands for "no such rate" or "never got
# there": a sign, not a word, so that the page reads in any language.

# %%
factors = {round(b / a, 6) for a, b in zip(ALL_RATES, ALL_RATES[1:])}
assert len(factors) == 1, f"the grid is not geometric: {factors}"
report.values(
    rate_factor=f"{factors.pop():g}",
    largest_drop=at_most(100 * largest_drop, 3),
    steps_without=len(runs["without BatchNorm", 1.0].losses),
    steps_with=len(runs["with BatchNorm", 1.0].losses),
    num_test=f"{len(dataset[2]):,}", num_train=f"{NUM_TRAIN:,}",
    every=EVERY, trains=f"{TRAINS:.0%}", half=f"{HALF:.0%}",
    rates_with=", ".join(f"{lr:g}" for lr in RATES["with BatchNorm"]),
    rates_without=", ".join(f"{lr:g}" for lr in RATES["without BatchNorm"]),
    trained_with=", ".join(f"{lr:g}" for lr in with_bn) or "—",
    trained_without=", ".join(f"{lr:g}" for lr in without_bn) or "—",
    largest_with=f"{largest:g}", best_with=f"{best_with:g}",
    largest_without=f"{max(without_bn):g}" if without_bn else "—",
    largest_rate_without=f"{max(RATES['without BatchNorm']):g}",
    best_acc=f"{top[best_with]:.1%}", largest_acc=f"{top[largest]:.1%}",
    half_with=at_half["with BatchNorm"] or "—",
    half_without=at_half["without BatchNorm"] or "—",
    plateau_loss=f"{max((loss_of[lr] for lr in slow), default=chance):.3f}",
    chance=f"{chance:.3f}",
)
