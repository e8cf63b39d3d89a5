# %% [markdown]
# # LeNet with and without BatchNorm
#
# The set-up of the d2l book's LeNet experiment (section 7.5 of the
# Chinese edition): LeNet-5 with sigmoid activations on Fashion-MNIST,
# trained by SGD with the book's learning rate and batch size (`LR` and
# `BATCH_SIZE` below), here for fewer epochs than the book's 10
# (`EPOCHS`). It is trained three times from the same weights
# (one seed): without normalization, with `nn.BatchNorm2d` /
# `nn.BatchNorm1d`, and for a shorter run with the from-scratch layer of
# `snippets/layers/batchnorm.py`. Then a look at the scale and shift the
# BatchNorm layers learned.
#
# LeNet with sigmoids is a good test case for BatchNorm. A sigmoid is
# nearly flat for inputs far from zero, and there its gradient is small.
# BatchNorm normalizes the input of every sigmoid, batch by batch, before
# its learned scale and shift. This example shows what that does to
# training.

# %%
import math
from functools import partial

import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.lenet import fashion_mnist, fit, lenet
from snippets.experiments.models import no_norm
from snippets.layers.batchnorm import BatchNorm
from snippets.support.report import FAST, Report, at_least, at_most
from snippets.support.rules import Above, All, Below, Equal, Greater
from snippets.support.training import smooth

report = Report("lenet_batchnorm")

# %% [markdown]
# ## The settings
#
# The book trains on all the training images, so its last batch of each
# epoch is smaller than the others. Here `NUM_TRAIN` is a whole number of
# batches of `BATCH_SIZE` images: every step has the same batch size, and
# the run is shorter. In fast mode there are far fewer training and test
# images.
#
# `EVALUATE_AT` lists the steps after which the test accuracy is measured
# (in eval mode, on every test image): every `STEPS_PER_EPOCH // 2`
# steps, so twice per epoch.
#
# The printed line gives the number of training and test images that this
# run uses. Check it before reading any accuracy below: in fast mode the
# numbers are small, and the accuracies then only show that the code
# runs.

# %%
LR, BATCH_SIZE = 1.0, 256
EPOCHS = 2
NUM_TRAIN = 8 * BATCH_SIZE if FAST else 234 * BATCH_SIZE
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else None)
STEPS_PER_EPOCH = NUM_TRAIN // BATCH_SIZE
EVALUATE_AT = range(STEPS_PER_EPOCH // 2, EPOCHS * STEPS_PER_EPOCH + 1,
                    STEPS_PER_EPOCH // 2)
print(f"{len(dataset[0]):,} training and {len(dataset[2]):,} test images")

# %% [markdown]
# ## Three variants of one network
#
# The seed fixes the convolution and linear weights, so all three variants
# start from the same weights (BatchNorm itself starts at weight 1,
# bias 0), and they see the same batches. The from-scratch layer computes
# the same function as `torch.nn`'s, so a shorter run of it is enough to
# compare the two.
#
# `variants` maps a name to a model builder and a number of epochs.
# `lenet` takes the normalization layers to use: `no_norm` is a stand-in
# that does nothing, and `BatchNorm` is the from-scratch layer. `fit`
# builds the model from the seed, trains it with SGD, and returns a
# result with the loss of every step, the test accuracies and the trained
# model.

# %%
# --8<-- [start:variants]
variants = {
    "no normalization": (partial(lenet, no_norm, no_norm), EPOCHS),
    "nn.BatchNorm2d / nn.BatchNorm1d": (lenet, EPOCHS),
    "from scratch (snippets/layers/batchnorm.py)": (
        partial(lenet, BatchNorm, BatchNorm), 1),
}
results = {name: fit(make, dataset, lr=LR, epochs=epochs,
                     batch_size=BATCH_SIZE, seed=0,
                     evaluate_at=EVALUATE_AT)
           for name, (make, epochs) in variants.items()}
# --8<-- [end:variants]
none = results["no normalization"]
bn = results["nn.BatchNorm2d / nn.BatchNorm1d"]
scratch = results["from scratch (snippets/layers/batchnorm.py)"]

# %% [markdown]
# Here is the network with `torch.nn`'s BatchNorm layers. Look at where
# the BatchNorm layers sit: right after each convolution and each hidden
# linear layer, before the sigmoid, as the paper puts them. Also look at
# the `bias=False` of the layers before them. BatchNorm subtracts the
# mean of each channel, and with it any constant bias, so those biases
# would be redundant. Only the last linear layer, which has no BatchNorm
# after it, keeps its bias.

# %%
print(bn.model)

# %% [markdown]
# ## Training curves
#
# Left: the training loss, as a moving mean over `window` steps, so that
# the curve is readable. The dotted line is ln 10, the loss of a uniform
# guess over ten classes: a loss near it means that the network has not
# learned anything yet. Right: the test accuracy in eval mode, twice per
# epoch.
#
# What to look for:
#
# - How long does the loss without normalization stay near the dotted
#   line? A long flat stretch near it is a plateau: the network is not
#   learning yet.
# - Does the loss with BatchNorm leave the dotted line sooner?
# - The dashed line (from scratch) should lie on top of the `torch.nn`
#   line for as long as it runs. The two layers compute the same function,
#   and the runs start from the same weights and see the same batches.

# %%
fig, (ax_loss, ax_acc) = plt.subplots(1, 2)
window = max(1, STEPS_PER_EPOCH // 4)
styles = {"no normalization": "-", "nn.BatchNorm2d / nn.BatchNorm1d": "-",
          "from scratch (snippets/layers/batchnorm.py)": "--"}
for (name, r), color in zip(results.items(), ["C0", "C2", "C1"]):
    ax_loss.plot(range(window, len(r.losses) + 1), smooth(r.losses, window),
                 styles[name], color=color, label=name)
    ax_acc.plot([s / STEPS_PER_EPOCH for s in r.evaluated_at],
                r.test_accuracy, "o" + styles[name], color=color,
                label=name)
ax_loss.axhline(math.log(10), color="k", lw=0.8, ls=":")  # chance level
ax_loss.set_xlabel("step")
ax_loss.set_ylabel(f"training loss ({window}-step mean)")
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("test accuracy (eval mode)")
ax_acc.set_ylim(0, 1)
ax_acc.legend(fontsize=7)
fig.suptitle(f"LeNet, SGD lr {LR}, batch {BATCH_SIZE}, "
             f"{len(dataset[0]):,} images, one seed", fontsize=10)
report.figure(fig, "curves")

# %% [markdown]
# ## Accuracy after each epoch
#
# `after_epoch` picks the test accuracy measured at the end of an epoch.
# It returns None for an epoch that a variant did not train; the table
# then says "not trained". The last column is the mean training loss over
# the last epoch that the variant trained, which is steadier than the loss
# of a single step.
#
# Compare the rows in each column. With one seed, a difference between
# two rows describes these runs only; a small difference could go the
# other way with another seed. Also compare the first-epoch accuracy of
# the two BatchNorm rows: they should agree closely.

# %%
def after_epoch(r, epoch):
    """Test accuracy at the end of ``epoch`` (None: not trained that
    long)."""
    step = epoch * STEPS_PER_EPOCH
    return r.test_accuracy[r.evaluated_at.index(step)] \
        if step in r.evaluated_at else None


rows = [[name] + [f"{after_epoch(r, e):.1%}" if after_epoch(r, e)
                  is not None else "not trained" for e in (1, EPOCHS)]
        + [f"{sum(r.losses[-STEPS_PER_EPOCH:]) / STEPS_PER_EPOCH:.3f}"]
        for name, r in results.items()]
report.table("results", ["Variant", "Test accuracy after epoch 1",
                         f"After epoch {EPOCHS}",
                         "Mean training loss, last epoch trained"], rows)

# %% [markdown]
# ## The from-scratch layer against torch.nn, step by step
#
# Same initial weights, same batches: the two BatchNorm runs differ only
# by floating-point rounding (the layers compute the same function in a
# different order). Compare the first steps with the whole epoch, to see
# whether SGD at this step size lets the differences grow.
#
# `loss_diff` holds the absolute difference between the two losses at
# each step. The code prints its largest value over the first `FIRST`
# steps and over all steps, and then the test accuracies of the two runs
# after the first epoch. The first number should be tiny: rounding
# errors, far below the size of the losses. If the second is much larger,
# the rounding differences grew during training. That is not an error in
# either layer: each step feeds the next, so a tiny difference can be
# carried forward and grow.

# %%
loss_diff = [abs(a - b) for a, b in zip(scratch.losses, bn.losses)]
# steps: before rounding has had time to grow (at most half the run,
# so that the two spans differ in a short run too)
FIRST = min(10, len(loss_diff) // 2)
first_diff, epoch_diff = max(loss_diff[:FIRST]), max(loss_diff)
print(f"largest loss difference: first {FIRST} steps {first_diff:.1e}, "
      f"all {len(loss_diff)} steps {epoch_diff:.1e}")
print(f"test accuracy after one epoch: from scratch "
      f"{after_epoch(scratch, 1):.2%}, torch.nn {after_epoch(bn, 1):.2%}")

# %% [markdown]
# ## What the BatchNorm layers learned
#
# `weight` (gamma) and `bias` (beta) of each BatchNorm layer, one pair per
# channel. They start at 1 and 0; how far each channel ended from (1, 0)
# is the larger of |gamma - 1| and |beta|.
#
# Each channel feeds a sigmoid. Gamma sets how much of the sigmoid's
# curved range the normalized values cover, and beta sets where they sit
# on it. If a channel stays at (1, 0), the sigmoid sees inputs with zero
# mean and unit variance. If it moves away, the network chose another
# scale or offset for that channel.
#
# The code collects the four BatchNorm layers of the trained `torch.nn`
# model (`bns`), names them after the layer before each (`names`), and
# computes the distance from (1, 0) of every channel (`departure`).
#
# The figure has two panels. Left: gamma and beta of each channel of the
# first layer (conv1); the dotted line marks gamma's start value 1.
# Right: every channel of all four layers as a point (gamma, beta); a
# point at the crossing of the dotted lines has not moved. Look at which
# layer's points lie farthest from that crossing. The printed lines give
# the same information as numbers: the first layer's gamma and beta, and
# the smallest and largest distance from (1, 0) in each layer.

# %%
bns = [m for m in bn.model if isinstance(m, (nn.BatchNorm1d,
                                             nn.BatchNorm2d))]
names = ["conv1", "conv2", "fc1", "fc2"]
gamma, beta = bns[0].weight.detach(), bns[0].bias.detach()
departure = {name: torch.maximum((b.weight.detach() - 1).abs(),
                                 b.bias.detach().abs())
             for name, b in zip(names, bns)}
fig, (ax_bar, ax_all) = plt.subplots(1, 2)
channels = torch.arange(len(gamma))
ax_bar.bar(channels - 0.2, gamma, width=0.4, label="weight (gamma)")
ax_bar.bar(channels + 0.2, beta, width=0.4, label="bias (beta)")
ax_bar.axhline(1, color="C0", lw=0.8, ls=":")
ax_bar.axhline(0, color="k", lw=0.8)
ax_bar.set_xticks(channels)
ax_bar.set_xlabel("channel of the first BatchNorm2d (conv1)")
ax_bar.legend(fontsize=8)
for i, (name, b) in enumerate(zip(names, bns)):
    ax_all.scatter(b.weight.detach(), b.bias.detach(), s=10,
                   label=f"{name} ({b.num_features})", color=f"C{i}")
ax_all.axvline(1, color="k", lw=0.8, ls=":")
ax_all.axhline(0, color="k", lw=0.8, ls=":")
ax_all.set_xlabel("weight (gamma)")
ax_all.set_ylabel("bias (beta)")
ax_all.legend(fontsize=8, title="layer", title_fontsize=8)
fig.suptitle(f"After {EPOCHS} epochs, one seed", fontsize=10)
report.figure(fig, "gamma_beta")
print("gamma:", [round(v, 2) for v in gamma.tolist()])
print("beta: ", [round(v, 2) for v in beta.tolist()])
for name, d in departure.items():
    print(f"{name}: distance from (1, 0) between {d.min():.2f} and "
          f"{d.max():.2f}")

# %% [markdown]
# ## How long the plateau lasts
#
# Chance level for ten classes is a loss of ln 10 = 2.30 (a uniform
# guess). How many steps pass before the smoothed loss first drops below
# `LEVEL`, a level clearly below chance?
#
# `first_step_below` walks along the moving mean of the losses (the same
# `window` as in the figure) and returns the first step at which it is
# below the level, or None if it never gets there. The printed dictionary
# gives that step for each variant. A None for a variant means that its
# smoothed loss never dropped below `LEVEL` in this run. A small step
# means that the variant left the plateau early, or never was on it.

# %%
def first_step_below(losses, level, window):
    for step, value in enumerate(smooth(losses, window), start=window):
        if value < level:
            return step
    return None


LEVEL = 2.0  # clearly below chance, ln 10 = 2.30
plateau = {name: first_step_below(r.losses, LEVEL, window)
           for name, r in results.items()}
print(plateau)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers recorded here, and each claim is a
# rule that the build checks against this run. A reader can skip this
# section.
#
# `plateau_without_only` checks the plateau. Without BatchNorm, it asks
# that the smoothed loss first drops below `LEVEL` after more than half
# of the steps run, and that it does drop before the end of the run. With
# BatchNorm, it asks that the smoothed loss is already below `LEVEL` at
# the first step that has a full window (step `window`). A run whose
# smoothed loss never drops below `LEVEL` counts as dropping one step
# past its end (`never`), so it fails the claim.

# %%
plateau_none = plateau["no normalization"]
plateau_bn = plateau["nn.BatchNorm2d / nn.BatchNorm1d"]
never = len(none.losses) + 1
first_below = f"first step whose {window}-step mean is below {LEVEL}"
without_first = f"{first_below}, without BatchNorm (never: {never})"
report.claim("plateau_without_only", All([
    Greater(without_first, plateau_none or never,
            f"half of the {len(none.losses)} steps run",
            len(none.losses) / 2),
    Below(without_first, plateau_none or never, never),
    Equal(f"{first_below}, with BatchNorm", plateau_bn or never, window)]))

# %% [markdown]
# `bn_ahead_after_each_epoch` asks that, after each epoch, the test
# accuracy with BatchNorm is above the accuracy without normalization by
# more than the margin in the rule, in points.

# %%
report.claim("bn_ahead_after_each_epoch", All([
    Greater(f"test accuracy after epoch {e}, with BatchNorm (%)",
            100 * after_epoch(bn, e),
            f"after epoch {e}, without normalization (%)",
            100 * after_epoch(none, e), margin=5)
    for e in range(1, EPOCHS + 1)]))

# %% [markdown]
# `scratch_follows_nn` checks that the from-scratch run follows the
# `torch.nn` run. It asks that the largest loss difference over the first
# `FIRST` steps is below the claim's bound. It also asks that the test
# accuracies after the first epoch differ by less than the claim's second
# bound, in points. `rounding_grows` asks that the largest loss
# difference over all steps is larger than the largest over the first
# `FIRST` steps, by more than the factor in the rule.

# %%
scratch_gap = abs(after_epoch(scratch, 1) - after_epoch(bn, 1))
report.claim("scratch_follows_nn", All([
    Below(f"largest loss difference from torch.nn, first {FIRST} steps",
          first_diff, 1e-4),
    Below("test accuracy difference from torch.nn after one epoch "
          "(points)", 100 * scratch_gap, 0.5)]))
report.claim("rounding_grows", Greater(
    f"largest loss difference from torch.nn over all {len(loss_diff)} "
    "steps", epoch_diff, f"over the first {FIRST} steps", first_diff,
    factor=10))

# %% [markdown]
# `conv1_moved_most` compares the first layer, conv1, with the two linear
# layers, fc1 and fc2; it does not look at conv2. The distance from
# (1, 0) of a channel is max(|gamma - 1|, |beta|). The claim asks that
# every channel of conv1 is farther from (1, 0) than any channel of fc1
# or fc2. It also asks that every channel of conv1 is farther from (1, 0)
# than the claim's bound. This second part checks that conv1 is far from
# "zero mean, unit variance" itself, not only farther than the linear
# layers.

# %%
conv1_least = float(departure["conv1"].min())
fc_most = max(float(departure[n].max()) for n in ("fc1", "fc2"))
report.claim("conv1_moved_most", All([
    Greater("smallest distance from (1, 0) of a conv1 channel",
            conv1_least, "largest of an fc1 or fc2 channel", fc_most),
    Above("smallest distance from (1, 0) of a conv1 channel",
          conv1_least, 0.5)]))

# %% [markdown]
# The numbers that the page quotes.

# %%
report.values(
    epochs=EPOCHS, num_train=f"{len(dataset[0]):,}", lr=f"{LR}",
    batch_size=BATCH_SIZE, steps=len(bn.losses),
    steps_per_epoch=STEPS_PER_EPOCH, window=window, level=f"{LEVEL}",
    chance=f"{math.log(10):.2f}", num_test=f"{len(dataset[2]):,}",
    plateau_none=plateau_none or len(none.losses),
    none_first_epoch=f"{after_epoch(none, 1):.1%}",
    bn_first_epoch=f"{after_epoch(bn, 1):.1%}",
    none_acc=f"{after_epoch(none, EPOCHS):.1%}",
    bn_acc=f"{after_epoch(bn, EPOCHS):.1%}",
    scratch_acc=f"{after_epoch(scratch, 1):.1%}",
    first_diff=at_most(first_diff), epoch_diff=at_most(epoch_diff),
    gamma_min=f"{gamma.min():.2f}", gamma_max=f"{gamma.max():.2f}",
    first_steps=FIRST, first_channels=len(gamma),
    beta_min=f"{beta.min():.2f}", beta_max=f"{beta.max():.2f}",
    conv1_least=at_least(conv1_least), fc_most=at_most(fc_most),
)
