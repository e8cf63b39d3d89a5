# %% [markdown]
# # Gradient accumulation: BatchNorm sees the micro-batch
#
# Gradient accumulation takes the optimizer step of a large batch in
# several smaller pieces. The batch is cut into micro-batches. Each
# micro-batch goes through the forward and the backward pass on its own,
# the gradients add up in `.grad`, and the optimizer takes one step at
# the end.
#
# This gives the step of the large batch only when the loss of every
# sample depends on that sample alone. BatchNorm breaks that condition.
# In training mode, it normalizes each micro-batch with the mean and the
# variance of that micro-batch, not with those of the large batch.
#
# This example measures three things:
#
# 1. how far the statistics of each micro-batch are from the statistics
#    of the whole batch;
# 2. how far the accumulated gradient is from the gradient of the whole
#    batch, with BatchNorm and without any normalization layer;
# 3. the test accuracy after a short training run, with accumulation and
#    with whole batches, for a few seeds.

# %%
import torch
from torch import nn

from snippets.experiments.models import mlp, no_norm
from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.rules import LOWER, Above, All, Below, Paired
from snippets.support.training import accuracy

# %% [markdown]
# The data is Fashion-MNIST. One optimizer step uses `BATCH` images:
# `ACCUMULATE` micro-batches of `MICRO` images each. The loss function
# takes the mean over the samples it is given.

# %%
report = Report("practice_accumulation")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
MICRO, ACCUMULATE = 8, 4  # 4 micro-batches of 8: 32 images per step
BATCH = MICRO * ACCUMULATE
loss_fn = nn.CrossEntropyLoss()


# %% [markdown]
# ## Two ways to take one optimizer step
#
# `full_step` is the usual step: one forward pass and one backward pass
# over the whole batch. `accumulated_step` splits the batch into
# micro-batches of `MICRO` images. It divides each micro-batch loss by
# `ACCUMULATE` before the backward pass. The loss of a micro-batch is a
# mean over `MICRO` samples, so the sum of the divided losses is the mean
# over all `BATCH` samples. Without BatchNorm, the two functions give the
# same gradient, up to rounding.

# %%
# --8<-- [start:accumulate]
def accumulated_step(model, optimizer, xb, yb):
    """One optimizer step over xb, in micro-batches of MICRO images."""
    optimizer.zero_grad()
    for x_micro, y_micro in zip(xb.split(MICRO), yb.split(MICRO)):
        # mean over the micro-batch / ACCUMULATE = mean over the batch
        (loss_fn(model(x_micro), y_micro) / ACCUMULATE).backward()
    optimizer.step()


def full_step(model, optimizer, xb, yb):
    optimizer.zero_grad()
    loss_fn(model(xb), yb).backward()
    optimizer.step()
# --8<-- [end:accumulate]


# %% [markdown]
# ## The statistics each micro-batch is normalized with
#
# First, a model to look at. The MLP has a BatchNorm1d layer after each
# hidden Linear layer. It trains for `warm_up` steps on whole batches
# before we measure, so that the input of its BatchNorm layers is not the
# one of the initial weights. Then we take the next batch of the stream,
# `xb`, with its labels `yb`. The later sections use this same batch.

# %%
torch.manual_seed(0)
model = mlp()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(0)
stream = data.batches(x_train, y_train, BATCH, g)
warm_up = 40
for _ in range(warm_up):
    full_step(model, optimizer, *next(stream))
xb, yb = next(stream)

# %% [markdown]
# Now the input of the first BatchNorm1d layer, `h`: the output of the
# Flatten layer and of the first Linear layer, for the whole batch. Per
# feature, we take the mean and the biased standard deviation over the
# whole batch (`correction=0`, as BatchNorm in training mode does). Then
# we cut `h` into the micro-batches and do the same for each part.
#
# For each micro-batch, the table gives two numbers. The first is how far
# the micro-batch means are from the batch means, in units of the batch
# standard deviation. The second is how far the micro-batch standard
# deviations are from the batch standard deviations, relative to the
# batch standard deviations. Each is a root mean square over the
# features.
#
# Look at how far the rows are from zero. Zero would mean that the
# micro-batch is normalized exactly as the whole batch. Anything else
# means that BatchNorm gives the samples of that micro-batch different
# outputs than it would in the whole batch. Compare the rows with each
# other too: each micro-batch has its own statistics.

# %%
with torch.no_grad():
    h = model[1](model[0](xb))  # the input of the first BatchNorm layer
mean, std = h.mean(0), h.std(0, correction=0)
shift = torch.stack([((part.mean(0) - mean) / std).square().mean().sqrt()
                     for part in h.split(MICRO)])
spread = torch.stack([((part.std(0, correction=0) - std) / std).square()
                      .mean().sqrt() for part in h.split(MICRO)])
report.table("statistics", [
    "Micro-batch", "Mean, off by (RMS, in batch std)",
    "Std, off by (RMS, relative)"],
    [[i + 1, f"{a:.2f}", f"{b:.2f}"] for i, (a, b) in
     enumerate(zip(shift.tolist(), spread.tolist()))])


# %% [markdown]
# ## The accumulated gradient against the batch's
#
# Different statistics give different outputs, so they should also give a
# different gradient. `gradient` computes the gradient of one model on the
# batch `xb`, in one of two ways: `"full"` (the whole batch at once) or
# `"accumulated"` (the micro-batches, as in `accumulated_step`). It
# returns all the parameter gradients as one flat vector. It takes no
# optimizer step, so both ways start from the same weights.

# %%
def gradient(net, step):
    net.zero_grad()
    step_fn = {"full": lambda: loss_fn(net(xb), yb).backward(),
               "accumulated": lambda: [
                   (loss_fn(net(a), b) / ACCUMULATE).backward()
                   for a, b in zip(xb.split(MICRO), yb.split(MICRO))]}
    step_fn[step]()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


# %% [markdown]
# We compare two fresh MLPs: one with BatchNorm1d and one with no
# normalization layer (`no_norm`). For each, the table gives the norm of
# the difference between the two gradients, divided by the norm of the
# full-batch gradient.
#
# Look at the row without normalization first. There, each sample's loss
# depends only on that sample, so the two gradients should agree up to
# float32 rounding: a very small number. The row with BatchNorm1d is the
# one to compare with it. A value far above rounding means that
# accumulation does not compute the gradient of the whole batch. The
# claims at the end check both rows.

# %%
relative = {}
for name, net in [("with BatchNorm1d", mlp()), ("without", mlp(norm=no_norm))]:
    full, accumulated = gradient(net, "full"), gradient(net, "accumulated")
    relative[name] = ((accumulated - full).norm() / full.norm()).item()
report.table("gradients", ["Model", "Accumulated minus batch gradient, "
                           "relative to the batch gradient"],
             [[name, f"{v:.1e}"] for name, v in relative.items()])

# %% [markdown]
# ## Training: accumulated micro-batches against true batches
#
# A different gradient matters only if it changes what the model learns.
# So we train the same MLP twice per seed: once with `accumulated_step`,
# once with `full_step`. Both runs of a seed start from the same initial
# weights and see the same batches of `BATCH` images, for the same number
# of optimizer steps (`steps`, with Adam at learning rate `lr`). The only
# difference is the BatchNorm statistics inside each step. After
# training, `accuracy` measures the test accuracy in eval mode, where
# BatchNorm uses its running statistics.
#
# This is the slowest cell of the example: it trains two models for each
# seed in `seeds`.

# %%
steps = 30 if FAST else 400
seeds = [0, 1, 2]
lr = 1e-3
results = {"accumulated": [], "full": []}
for seed in seeds:
    for name, step_fn in (("accumulated", accumulated_step),
                          ("full", full_step)):
        torch.manual_seed(seed)
        net = mlp()
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        stream = data.batches(x_train, y_train, BATCH,
                              torch.Generator().manual_seed(seed))
        net.train()
        for _ in range(steps):
            step_fn(net, optimizer, *next(stream))
        results[name].append(accuracy(net, x_test, y_test))

# %% [markdown]
# The table gives the test accuracy of each run, one row per seed.
# Compare the two columns row by row: each row is a fair pair, because
# the two runs of a seed differ only in how the step is taken.
#
# The line after the table summarizes the pairs. `Comparison` gives the
# verdict "better" or "worse" only when the difference has the same sign
# on every seed; when the sign differs between seeds, it says "within
# seed-to-seed noise". It also gives the mean difference and its range
# over the seeds, in percentage points. With so few seeds, the result
# describes these runs only. The claim at the end asks whether
# accumulation ends lower on every seed.

# %%
report.table("training", ["Seed", "Accumulated 4 x 8", "Batch of 32"],
             [[seed, f"{a:.2%}", f"{b:.2%}"] for seed, a, b in
              zip(seeds, results["accumulated"], results["full"])])
comparison = Comparison(results["accumulated"], results["full"])
print(comparison.verdict, comparison.describe(" points", 100))

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# The first claim, `accumulated_gradient_differs_with_bn`, checks the
# gradients. It compares the accumulated gradient with the gradient of the
# whole batch (`relative`: the norm of the difference over the norm of the
# batch gradient). With BatchNorm, it asks that this difference is above the
# claim's first bound. Without normalization, it asks that the difference is
# below the second, much smaller bound. The second claim,
# `accumulation_worse_every_seed`, compares the test accuracies seed by
# seed: it asks that accumulation is lower on every seed.

# %%
low, high = comparison.paired
report.values(
    micro=MICRO, accumulate=ACCUMULATE, batch=BATCH, steps=steps,
    warm_up=warm_up, seeds=len(seeds), lr=f"{lr:g}",
    grad_bn=f"{relative['with BatchNorm1d']:.2g}",
    grad_plain=f"{relative['without']:.1e}",
    effect=f"{abs(comparison.effect) * 100:.2f}",
    paired_low=f"{low * 100:+.2f}", paired_high=f"{high * 100:+.2f}")
report.claim("accumulated_gradient_differs_with_bn", All([
    Above("accumulated minus batch gradient, relative, with BatchNorm1d",
          relative["with BatchNorm1d"], 1e-2),
    Below("accumulated minus batch gradient, relative, without "
          "normalization", relative["without"], 1e-5)]))
report.claim("accumulation_worse_every_seed", Paired(
    "test accuracy", "accumulated 4 x 8", results["accumulated"],
    "batch of 32", results["full"], LOWER, scale=100, unit=" points"))
