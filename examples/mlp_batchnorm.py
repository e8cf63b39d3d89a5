# %% [markdown]
# # An MLP with and without BatchNorm1d
#
# The same small multilayer perceptron trained twice on Fashion-MNIST, once
# with `nn.BatchNorm1d` after each hidden linear layer and once without:
# same initial weights, same mini-batches, same optimizer.
#
# This is the experiment of the source post (which used CIFAR-10): Adam with
# learning rate 1e-4, batch size 10, 5 epochs, seed 42.

# %%
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.training import accuracy, smooth, train

import matplotlib.pyplot as plt

# Switch to "cifar10" if you have it (or internet access): 32x32x3 inputs.
DATASET = "fashion_mnist"
EPOCHS = 5
BATCH_SIZE = 10
LR = 1e-4
SEED = 42
# DOCS_FAST=1 (tests, CI): a few dozen steps on a slice of the data.
MAX_STEPS = 60 if FAST else None

report = Report("mlp_batchnorm")

# %% [markdown]
# ## The data
#
# Images become float tensors in [0, 1]; the whole set is held in memory, so
# a mini-batch is one indexing operation.

# %%
x_train, y_train = data.load(DATASET, train=True)
x_test, y_test = data.load(DATASET, train=False)
if FAST:
    x_train, y_train = x_train[:2000], y_train[:2000]
    x_test, y_test = x_test[:1000], y_test[:1000]
num_inputs = x_train[0].numel()  # 784 for Fashion-MNIST, 3072 for CIFAR-10
print(f"{DATASET}: {len(x_train)} training and {len(x_test)} test images, "
      f"{num_inputs} inputs each")


# %% [markdown]
# ## The two models
#
# `nn.BatchNorm1d(64)` normalizes each of the 64 features over the
# mini-batch, then scales and shifts it with a learned `weight` and `bias`.

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
# mini-batches for both, so the only difference is the normalization.

# %%
# --8<-- [start:train]
results = {}
for label, batch_norm in [("without BN", False), ("with BN", True)]:
    torch.manual_seed(SEED)
    model = make_mlp(num_inputs, batch_norm)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    losses = train(model, x_train, y_train, epochs=EPOCHS,
                   batch_size=BATCH_SIZE, optimizer=optimizer, seed=SEED,
                   max_steps=MAX_STEPS, label=label)
    results[label] = {"losses": losses,
                      "test_accuracy": accuracy(model, x_test, y_test)}
# --8<-- [end:train]

# %% [markdown]
# ## Training loss
#
# Each curve is the loss per mini-batch, averaged over a sliding window so
# the trend is visible through the noise of batches of 10.

# %%
steps_per_epoch = len(x_train) // BATCH_SIZE
window = 10 if FAST else 500
fig, ax = plt.subplots()
for label, result in results.items():
    curve = smooth(result["losses"], window)
    ax.plot(range(window, window + len(curve)), curve, label=label)
ax.set_xlabel("training step (mini-batches of 10)")
ax.set_ylabel(f"training loss ({window}-step average)")
ax.set_title(f"MLP on {data.TITLES[DATASET]}, with and without BatchNorm1d")
ax.legend()
report.figure(fig, "loss_curves")

# %% [markdown]
# ## Results
#
# The training loss is averaged over the last epoch (the last
# `steps_per_epoch` steps, or all steps in fast mode), the test accuracy is
# measured in eval mode, where BatchNorm uses its running statistics.

# %%
rows, values = [], {}
for label, result in results.items():
    last = result["losses"][-steps_per_epoch:]
    mean_loss = sum(last) / len(last)
    rows.append([label, f"{mean_loss:.3f}",
                 f"{result['test_accuracy']:.2%}"])
    key = "bn" if label == "with BN" else "plain"
    values[f"loss_{key}"] = f"{mean_loss:.3f}"
    values[f"accuracy_{key}"] = f"{result['test_accuracy']:.2%}"
report.table("results", ["Model", "Mean training loss, last epoch",
                         "Test accuracy"], rows)
# Words for the prose, decided by this run rather than typed on the page.
lower = float(values["loss_bn"]) < float(values["loss_plain"])
better = (results["with BN"]["test_accuracy"]
          > results["without BN"]["test_accuracy"])
report.values(steps=len(results["with BN"]["losses"]), dataset=DATASET,
              bn_loss_is=("lower" if lower else "higher"),
              bn_accuracy_is=("higher" if better else "not higher"),
              **values)
for row in rows:
    print(" | ".join(row))
