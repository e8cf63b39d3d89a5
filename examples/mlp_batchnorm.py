# %% [markdown]
# # An MLP with and without BatchNorm1d
#
# The same small multilayer perceptron trained twice on Fashion-MNIST, once
# with `nn.BatchNorm1d` after each hidden linear layer and once without:
# same initial weights, same mini-batches, same optimizer; and all of it
# repeated for several seeds (`SEEDS`).
#
# The settings are those of the source post's experiment (which used
# CIFAR-10): Adam with learning rate 1e-4, batch size 10, 5 epochs, seed
# 42 (here also the other seeds of `SEEDS`). To fit the site's time
# budget, each run trains on the first `TRAIN_SIZE` training images, not
# all of them.
#
# Why this matters for Batch Normalization: this is the smallest complete
# experiment on the site. It uses both modes of the layer: training mode,
# where each mini-batch is normalized with its own statistics, and eval
# mode, where the layer uses running estimates. It also shows how to compare
# two models fairly: pair them seed by seed, and change only one thing.
#
# The first cell sets the experiment up. `DATASET` names the data set,
# and the other constants are the training settings above. In fast mode
# (`FAST`, used by the tests) each run stops after `MAX_STEPS` steps, on
# fewer images and seeds.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.rules import HIGHER, Paired
from snippets.support.training import accuracy, smooth, train

# Switch to "cifar10" if you have it (or internet access): 32x32x3 inputs.
DATASET = "fashion_mnist"
TRAIN_SIZE = 8_000  # None: the whole training set (30,000 steps a run)
EPOCHS = 5
BATCH_SIZE = 10
LR = 1e-4
SEEDS = [42, 43, 44]
# DOCS_FAST=1 (tests, CI): a few dozen steps on a slice of the data.
MAX_STEPS = 60 if FAST else None
if FAST:
    TRAIN_SIZE, SEEDS = 2000, [42, 43]

report = Report("mlp_batchnorm")

# %% [markdown]
# ## The data
#
# Images become float tensors in [0, 1]; the whole set is held in memory, so
# a mini-batch is one indexing operation.
#
# The cell keeps the first `TRAIN_SIZE` training images. `num_inputs` is
# the number of values in one image: the input size of the first linear
# layer. The printed line gives the sizes the rest of the example uses;
# check that they are the ones you expect before you read any result.

# %%
x_train, y_train = data.load(DATASET, train=True)
x_test, y_test = data.load(DATASET, train=False)
x_train, y_train = x_train[:TRAIN_SIZE], y_train[:TRAIN_SIZE]
if FAST:
    x_test, y_test = x_test[:1000], y_test[:1000]
num_inputs = x_train[0].numel()  # 784 for Fashion-MNIST, 3072 for CIFAR-10
print(f"{DATASET}: {len(x_train)} training and {len(x_test)} test images, "
      f"{num_inputs} inputs each")


# %% [markdown]
# ## The two models
#
# In training mode, `nn.BatchNorm1d(64)` normalizes each of the 64
# features over the mini-batch, then scales and shifts it with a learned
# `weight` and `bias`; in eval mode it uses its running estimates instead.
#
# `make_mlp` builds both networks. With `batch_norm=False`, `norm` returns
# `nn.Identity()`, a layer that returns its input unchanged, so the
# network without BatchNorm has exactly the same linear layers. The
# BatchNorm layers sit between each hidden linear layer and its ReLU, the
# place the paper puts them: before the nonlinearity.

# %%
# --8<-- [start:model]
def make_mlp(num_inputs, batch_norm):
    """Flatten -> 64 -> 32 -> 10, with BatchNorm1d after each hidden Linear."""
    def norm(num_features):
        return nn.BatchNorm1d(num_features) if batch_norm else nn.Identity()

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(num_inputs, 64), norm(64), nn.ReLU(),
        nn.Linear(64, 32), norm(32), nn.ReLU(),
        nn.Linear(32, 10),
    )
# --8<-- [end:model]


# %% [markdown]
# ## Training
#
# Seeding before each model gives both the same initial linear weights
# (BatchNorm draws no random numbers), and `train` draws the same
# mini-batches for both, so within a seed the only difference is the
# normalization.
#
# For each seed, the loop trains the model without BatchNorm, then the
# model with it. `train` puts the model in training mode, runs `EPOCHS`
# epochs of mini-batches of `BATCH_SIZE`, and returns the loss of every
# step. `accuracy` then puts the model in eval mode and measures the
# fraction of test images it classifies correctly. `results` keeps both,
# for each model and seed.

# %%
# --8<-- [start:train]
results = {}  # (label, seed) -> losses of every step, test accuracy
for seed in SEEDS:
    for label, batch_norm in [("without BN", False), ("with BN", True)]:
        torch.manual_seed(seed)
        model = make_mlp(num_inputs, batch_norm)
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        losses = train(model, x_train, y_train, epochs=EPOCHS,
                       batch_size=BATCH_SIZE, optimizer=optimizer,
                       seed=seed, max_steps=MAX_STEPS,
                       label=f"{label}, seed {seed}")
        results[label, seed] = {
            "losses": losses,
            "test_accuracy": accuracy(model, x_test, y_test)}
# --8<-- [end:train]

# %% [markdown]
# ## Training loss
#
# Each curve is the loss per mini-batch, averaged over a sliding window so
# the trend is visible through the noise of small batches of `BATCH_SIZE`;
# one curve per seed. `smooth` computes the moving average over `window`
# steps, so each curve starts at step `window`.
#
# Look at the two colours. Which one is lower, and from which step on?
# Do the curves of one colour (one per seed) stay close together, or
# does one seed behave differently? Remember that the BN model's loss is
# computed in training mode, with the statistics of each mini-batch. It
# is not the loss of the model that the test accuracy below evaluates.

# %%
LABELS = ["without BN", "with BN"]
steps_per_epoch = len(x_train) // BATCH_SIZE
window = 10 if FAST else 250
fig, ax = plt.subplots()
for i, label in enumerate(LABELS):
    for seed in SEEDS:
        curve = smooth(results[label, seed]["losses"], window)
        ax.plot(range(window, window + len(curve)), curve, color=f"C{i}",
                linewidth=1, label=label if seed == SEEDS[0] else None)
ax.set_xlabel(f"training step (mini-batches of {BATCH_SIZE})")
ax.set_ylabel(f"training loss ({window}-step average)")
ax.set_title(f"MLP on {data.TITLES[DATASET]}, with and without BatchNorm1d, "
             f"{len(SEEDS)} seeds", fontsize=10)
ax.legend()
report.figure(fig, "loss_curves")

# %% [markdown]
# ## Results
#
# The training loss is averaged over the last epoch (the last
# `steps_per_epoch` steps, or all steps in fast mode); for the BN model it
# is computed in training mode, with each mini-batch's statistics. The test
# accuracy is measured in eval mode, where BatchNorm uses its running
# statistics. Each comparison pairs the two models seed by seed.
#
# The table gives, for each model, the mean of both measures over the
# seeds, and the test accuracy of each seed. Compare the seeds' accuracies
# within one row: how far apart are they? If the difference between the
# two models is smaller than the spread between seeds, one seed alone
# could rank the two models either way.

# %%
def mean(values):
    return sum(values) / len(values)


loss = {label: [mean(results[label, s]["losses"][-steps_per_epoch:])
                for s in SEEDS] for label in LABELS}
acc = {label: [results[label, s]["test_accuracy"] for s in SEEDS]
       for label in LABELS}
rows = [[label, f"{mean(loss[label]):.3f}", f"{mean(acc[label]):.2%}",
         ", ".join(f"{a:.2%}" for a in acc[label])] for label in LABELS]
span = ("last epoch" if len(results[LABELS[0], SEEDS[0]]["losses"])
        >= steps_per_epoch else "all steps")
report.table("results", ["Model", f"Training loss, {span} (mean)",
                         "Test accuracy (mean)",
                         "Test accuracy, seed by seed"], rows)

# %% [markdown]
# ## Seed by seed
#
# `Comparison` (in `snippets/support/compare.py`) subtracts the model
# without BatchNorm from the model with it, seed by seed. Its verdict is
# "better" or "worse" only when every seed agrees in sign, "within
# seed-to-seed noise" when the seeds disagree, and "tied" when some seeds
# differ one way and the rest not at all. For the training loss, the code
# calls neither direction better (`higher_is_better=None`), so its
# verdict only says "higher" or "lower".
#
# In each printed line, read the verdict first, then the range of the
# differences by seed. The test accuracy is printed as a fraction: 0.01
# is one percentage point. With a few seeds, a verdict describes these
# runs only; it is not a rule for other networks or data.

# %%
accuracy_gain = Comparison(acc["with BN"], acc["without BN"])
loss_change = Comparison(loss["with BN"], loss["without BN"],
                         higher_is_better=None)
print("test accuracy:", accuracy_gain.verdict,
      accuracy_gain.describe(" (fraction)"))
print("training loss:", loss_change.verdict, loss_change.describe())

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# The values are the settings, the means from the table, and the mean and
# range of the seed-by-seed differences. The two claims check in which
# direction the models differ on every seed: `HIGHER` asks that the model
# with BatchNorm is higher on each seed. `bn_higher_test_accuracy` asks
# this of the test accuracy, and `bn_higher_training_loss` of the
# training loss over the last epoch.

# %%
report.values(
    steps=len(results["with BN", SEEDS[0]]["losses"]), dataset=DATASET,
    train_size=f"{len(x_train):,}", seeds=len(SEEDS), epochs=EPOCHS,
    batch_size=BATCH_SIZE, lr=f"{LR:g}",
    loss_bn=f"{mean(loss['with BN']):.3f}",
    loss_plain=f"{mean(loss['without BN']):.3f}",
    accuracy_bn=f"{mean(acc['with BN']):.2%}",
    accuracy_plain=f"{mean(acc['without BN']):.2%}",
    accuracy_gain=f"{100 * accuracy_gain.effect:+.2f}",
    accuracy_gain_low=f"{100 * accuracy_gain.paired[0]:+.2f}",
    accuracy_gain_high=f"{100 * accuracy_gain.paired[1]:+.2f}",
    loss_change=f"{loss_change.effect:+.3f}",
    loss_change_low=f"{loss_change.paired[0]:+.3f}",
    loss_change_high=f"{loss_change.paired[1]:+.3f}")
report.claim("bn_higher_test_accuracy", Paired(
    "test accuracy", "the model with BN", acc["with BN"],
    "the model without", acc["without BN"], HIGHER, scale=100,
    unit=" points"))
report.claim("bn_higher_training_loss", Paired(
    "training loss over the last epoch", "the model with BN",
    loss["with BN"], "the model without", loss["without BN"], HIGHER))
