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
# the trend is visible through the noise of batches of 10; one curve per
# seed.

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
ax.set_xlabel("training step (mini-batches of 10)")
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

# %%
def mean(values):
    return sum(values) / len(values)


loss = {label: [mean(results[label, s]["losses"][-steps_per_epoch:])
                for s in SEEDS] for label in LABELS}
acc = {label: [results[label, s]["test_accuracy"] for s in SEEDS]
       for label in LABELS}
rows = [[label, f"{mean(loss[label]):.3f}", f"{mean(acc[label]):.2%}",
         ", ".join(f"{a:.2%}" for a in acc[label])] for label in LABELS]
report.table("results", ["Model", "Training loss, last epoch (mean)",
                         "Test accuracy (mean)",
                         "Test accuracy, seed by seed"], rows)
for row in rows:
    print(" | ".join(row))
accuracy_gain = Comparison(acc["with BN"], acc["without BN"])
loss_change = Comparison(loss["with BN"], loss["without BN"],
                         higher_is_better=None)
print("test accuracy:", accuracy_gain.verdict,
      accuracy_gain.describe(" (fraction)"))
print("training loss:", loss_change.verdict, loss_change.describe())

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
