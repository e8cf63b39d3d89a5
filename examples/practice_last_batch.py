# %% [markdown]
# # A last batch of one sample, and short last batches
#
# When the size of a data set is not a multiple of the batch size, the
# last batch of every epoch is short. Two things can go wrong with
# BatchNorm:
#
# - With one sample left, a BatchNorm1d layer in training mode raises an
#   error: one value per channel has no variance.
#   `DataLoader(drop_last=True)` skips the short batch.
# - A short batch of a few samples raises nothing. But it is the last
#   update of the running statistics before the model is evaluated, and
#   its statistics come from a few samples only.
#
# This example shows the error and the fix. Then it measures how far the
# running variance lands from the variance of the data after each epoch,
# by the size of the last batch.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from snippets.experiments.models import mlp
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import Greater

# %% [markdown]
# The data is the Fashion-MNIST training set; `BATCH` is the batch size
# of every loader and loop below.

# %%
report = Report("practice_last_batch")
images, labels = data.load("fashion_mnist", train=True)
BATCH = 64

# %% [markdown]
# ## One sample left over
#
# The data set holds `16 * BATCH + 1` images: a whole number of full
# batches, then one image left over. The model is the MLP of
# `snippets/experiments/models.py`, with a BatchNorm1d layer after each
# hidden Linear layer. One epoch of ordinary training runs over the
# loader, in training mode.
#
# Look at the first printed line: the size of the batch that failed, and
# the error message. It is a `ValueError`, raised in the forward pass of
# the batch of one. The training loop gets through every full batch
# first, so with a large data set this error can appear only after a long
# epoch.
#
# Then the fix: the same data set in a loader with `drop_last=True`. The
# second printed line lists the size of every batch of one epoch. Check
# that the batch of one is gone, and that every batch left has `BATCH`
# samples.

# %%
# --8<-- [start:error]
torch.manual_seed(0)
dataset = TensorDataset(images[:16 * BATCH + 1], labels[:16 * BATCH + 1])
model = mlp()  # Linear -> BatchNorm1d -> ReLU, twice, then Linear
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loader = DataLoader(dataset, batch_size=BATCH, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
try:
    for xb, yb in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
except ValueError as error:
    print(f"batch of {len(xb)}: ValueError: {error}")

loader = DataLoader(dataset, batch_size=BATCH, shuffle=True,
                    drop_last=True)  # the fix: skip the short batch
print([len(xb) for xb, _ in loader])
# --8<-- [end:error]

# %% [markdown]
# ## What a short last batch does to the running statistics
#
# In training mode, each batch updates the running variance with
#
#     running = (1 - momentum) * running + momentum * batch_variance
#
# where `batch_variance` is the unbiased variance of the batch (PyTorch's
# default momentum is 0.1). The last batch of an epoch gives the last
# update before evaluation. If that batch holds a few samples, its
# variance is a noisy estimate, and the update moves the running variance
# by a share `momentum` of that noise.
#
# To measure this without training a model, we take fixed features: the
# outputs of a Linear layer with seeded random weights, on the
# Fashion-MNIST images. `running_var_error(r, drop_last)` takes the first
# `16 * BATCH + r` rows of these features, so that every epoch ends with a
# last batch of `r` samples. It feeds a fresh BatchNorm1d layer in
# training mode, epoch after epoch, in batches of `BATCH` shuffled anew in
# every epoch. With `drop_last=True` it skips the short batch, as the
# loader above would; when `r` is `BATCH`, there is no short batch to
# skip.
#
# At the end of each epoch, when a model would be evaluated, the function
# compares the running variance with the variance of all the rows: the
# median over features of |running_var / variance - 1|. It skips the first
# `warm_up` epochs, while the running variance still moves away from its
# initial value, and returns the mean over the other `epochs`.
#
# `errors` holds the result for each size in `last_sizes`, once with the
# short batch used and once with it dropped. The printed dictionary gives
# the raw numbers: the key `False` means the short batch was used.

# %%
# --8<-- [start:short]
torch.manual_seed(0)
with torch.no_grad():
    features = nn.Linear(784, 64)(images.flatten(1))  # fixed, seeded
last_sizes = [2, 3, 4, 8, 16, 32, 64]
epochs, warm_up = (5, 3) if FAST else (60, 3)


@torch.no_grad()
def running_var_error(r, drop_last):
    """Mean relative error of running_var at the end of each epoch."""
    x = features[:16 * BATCH + r]
    bn, g, errors = nn.BatchNorm1d(x.size(1)), torch.Generator(), []
    g.manual_seed(0)
    for epoch in range(warm_up + epochs):
        for xb in x[torch.randperm(len(x), generator=g)].split(BATCH):
            if len(xb) == BATCH or not drop_last:
                bn(xb)
        if epoch >= warm_up:
            errors.append((bn.running_var / x.var(0) - 1).abs().median())
    return torch.stack(errors).mean().item()


errors = {drop: [running_var_error(r, drop) for r in last_sizes]
          for drop in (False, True)}
# --8<-- [end:short]
print(errors)

# %% [markdown]
# The figure draws both lists against the size of the last batch. Read
# the dashed line first: with `drop_last=True`, every update comes from a
# full batch, so it shows the error that full batches leave. The solid
# line is the same with the short batch used. Where the two lines are
# far apart, the short batch makes the running variance worse at
# evaluation time. Expect the gap to grow as the last batch gets smaller.
# At the right end the last batch is full, so the two lines should meet.
# The claims at the end compare the smallest last batch with the dropped
# one, and with a full last batch.

# %%
fig, ax = plt.subplots()
ax.plot(last_sizes, errors[False], "o-", label="last batch used")
ax.plot(last_sizes, errors[True], "s--", label="drop_last=True")
ax.set_xscale("log", base=2)
ax.set_xticks(last_sizes, [str(r) for r in last_sizes])
ax.set_xlabel(f"samples in the last batch (the others: {BATCH})")
ax.set_ylabel("median |running_var / variance - 1|")
ax.set_ylim(bottom=0)
ax.set_title(f"BatchNorm1d, epochs of 16 full batches + the last one, "
             f"mean over {epochs} epochs", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "last_batch")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# The first claim compares the smallest last batch, used and dropped. The
# second asks for "several times" the error of a full last batch: at least
# `factor` times, as the rule sets it.

# %%
full_batches = len(loader)
used, dropped = errors[False], errors[True]
report.values(full_batches=full_batches, epochs=epochs, batch=BATCH,
              smallest_last=last_sizes[0], features=features.size(1),
              momentum=nn.BatchNorm1d(1).momentum,
              images=len(dataset),
              error_2=f"{used[0]:.2f}", error_64=f"{used[-1]:.3f}",
              dropped_2=f"{dropped[0]:.3f}")
error = "median relative error of running_var"
report.claim("short_last_batch_worse_than_dropped", Greater(
    f"{error}, last batch of {last_sizes[0]} used", used[0],
    f"{error}, last batch of {last_sizes[0]} dropped", dropped[0]))
report.claim("two_samples_several_times_full", Greater(
    f"{error}, last batch of {last_sizes[0]}", used[0],
    f"{error}, last batch of {last_sizes[-1]}", used[-1], factor=3))
