# %% [markdown]
# # A last batch of one sample, and short last batches
#
# When the data set size is not a multiple of the batch size, the last
# batch of every epoch is short. With one sample left, a BatchNorm1d layer
# in training mode raises; `DataLoader(drop_last=True)` skips the short
# batch. A short batch of a few samples raises nothing, but it is the
# last update of the running statistics before evaluation. This example
# shows the error, the fix, and measures how far the running variance
# lands from the data's variance after an epoch, by the size of the last
# batch.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from snippets.experiments.models import mlp
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import Greater

report = Report("practice_last_batch")
images, labels = data.load("fashion_mnist", train=True)
BATCH = 64

# %% [markdown]
# ## One sample left over
#
# 1025 images in batches of 64: sixteen full batches, then one image.

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
full_batches = len(loader)

# %% [markdown]
# ## What a short last batch does to the running statistics
#
# The 64 features of a fixed, seeded Linear layer on Fashion-MNIST images
# go through a BatchNorm1d layer in training mode (default momentum 0.1),
# epoch after epoch, in freshly shuffled batches of 64 whose last one
# holds `r` samples; once with that short batch, once without it (as
# `drop_last=True` would). At the end of each epoch, when a model would be
# evaluated, the running variance is compared with the variance of all
# the samples: the median over features of |running_var / variance - 1|,
# averaged over the epochs (after three epochs of warm-up).

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

# %%
fig, ax = plt.subplots()
ax.plot(last_sizes, errors[False], "o-", label="last batch used")
ax.plot(last_sizes, errors[True], "s--", label="drop_last=True")
ax.set_xscale("log", base=2)
ax.set_xticks(last_sizes, [str(r) for r in last_sizes])
ax.set_xlabel("samples in the last batch (the others: 64)")
ax.set_ylabel("median |running_var / variance - 1|")
ax.set_ylim(bottom=0)
ax.set_title(f"BatchNorm1d, epochs of 16 full batches + the last one, "
             f"mean over {epochs} epochs", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "last_batch")

# %%
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
# "Several times": at least three times.
report.claim("two_samples_several_times_full", Greater(
    f"{error}, last batch of {last_sizes[0]}", used[0],
    f"{error}, last batch of {last_sizes[-1]}", used[-1], factor=3))
