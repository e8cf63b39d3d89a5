# %% [markdown]
# # Gradient accumulation: BatchNorm sees the micro-batch
#
# Accumulating the gradients of 4 micro-batches of 8 images before one
# optimizer step gives the step of a batch of 32 only when every sample's
# loss depends on that sample alone. BatchNorm normalizes each micro-batch
# with its own statistics, so it does not. This example measures the
# statistics each micro-batch is normalized with, the accumulated gradient
# against the batch-of-32 gradient (with and without BatchNorm), and what
# a short training run ends with, over three seeds.

# %%
import torch
from torch import nn

from snippets.experiments.models import mlp, no_norm
from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.rules import LOWER, Above, All, Below, Paired
from snippets.support.training import accuracy

report = Report("practice_accumulation")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
MICRO, ACCUMULATE = 8, 4  # 4 micro-batches of 8: 32 images per step
BATCH = MICRO * ACCUMULATE
loss_fn = nn.CrossEntropyLoss()


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
# The first BatchNorm1d layer of an MLP (after a few dozen training steps,
# so its input is not the initial one), fed one batch of 32 images whole
# and as four micro-batches of 8. For each micro-batch, how far its
# per-feature means and standard deviations are from the batch's (in
# units of the batch's standard deviation, root mean square over
# features).

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
with torch.no_grad():
    h = model[1](model[0](xb))  # the input of the first BatchNorm layer
mean, std = h.mean(0), h.std(0, correction=0)
shift = torch.stack([((part.mean(0) - mean) / std).square().mean().sqrt()
                     for part in h.split(MICRO)])
spread = torch.stack([((part.std(0, correction=0) - std) / std).square()
                      .mean().sqrt() for part in h.split(MICRO)])
print("mean shift per micro-batch:", shift)
print("std difference per micro-batch:", spread)


# %% [markdown]
# ## The accumulated gradient against the batch's
#
# The same weights, the same 32 images: the gradient of one batch of 32,
# and the sum of the four micro-batch gradients. Their difference,
# relative to the batch gradient's norm, with BatchNorm and with no
# normalization layer at all.

# %%
def gradient(net, step):
    net.zero_grad()
    step_fn = {"full": lambda: loss_fn(net(xb), yb).backward(),
               "accumulated": lambda: [
                   (loss_fn(net(a), b) / ACCUMULATE).backward()
                   for a, b in zip(xb.split(MICRO), yb.split(MICRO))]}
    step_fn[step]()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


relative = {}
for name, net in [("with BatchNorm1d", mlp()), ("without", mlp(norm=no_norm))]:
    full, accumulated = gradient(net, "full"), gradient(net, "accumulated")
    relative[name] = ((accumulated - full).norm() / full.norm()).item()
print(relative)

# %% [markdown]
# ## Training: accumulated micro-batches against true batches
#
# The same MLP, the same batches of 32, the same number of optimizer
# steps (Adam, learning rate 0.001); once with 4 accumulated micro-batches
# per step, once with the batch of 32 at once. Test accuracy in eval mode,
# for three seeds.

# %%
steps = 30 if FAST else 400
seeds = [0, 1, 2]
results = {"accumulated": [], "full": []}
for seed in seeds:
    for name, step_fn in (("accumulated", accumulated_step),
                          ("full", full_step)):
        torch.manual_seed(seed)
        net = mlp()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        stream = data.batches(x_train, y_train, BATCH,
                              torch.Generator().manual_seed(seed))
        net.train()
        for _ in range(steps):
            step_fn(net, optimizer, *next(stream))
        results[name].append(accuracy(net, x_test, y_test))
print(results)
comparison = Comparison(results["accumulated"], results["full"])
print(comparison.verdict, comparison.describe(" points", 100))

# %%
report.table("statistics", [
    "Micro-batch", "Mean, off by (RMS, in batch std)",
    "Std, off by (RMS, relative)"],
    [[i + 1, f"{a:.2f}", f"{b:.2f}"] for i, (a, b) in
     enumerate(zip(shift.tolist(), spread.tolist()))])
report.table("gradients", ["Model", "Accumulated minus batch gradient, "
                           "relative to the batch gradient"],
             [[name, f"{v:.1e}"] for name, v in relative.items()])
report.table("training", ["Seed", "Accumulated 4 x 8", "Batch of 32"],
             [[seed, f"{a:.2%}", f"{b:.2%}"] for seed, a, b in
              zip(seeds, results["accumulated"], results["full"])])
low, high = comparison.paired
report.values(
    micro=MICRO, accumulate=ACCUMULATE, batch=BATCH, steps=steps,
    warm_up=warm_up, seeds=len(seeds),
    grad_bn=f"{relative['with BatchNorm1d']:.2g}",
    grad_plain=f"{relative['without']:.1e}",
    effect=f"{abs(comparison.effect) * 100:.2f}",
    paired_low=f"{low * 100:+.2f}", paired_high=f"{high * 100:+.2f}")
# BatchNorm's gradient is off by far more than rounding; the plain MLP's
# is off by float32 rounding only.
report.claim("accumulated_gradient_differs_with_bn", All([
    Above("accumulated minus batch gradient, relative, with BatchNorm1d",
          relative["with BatchNorm1d"], 1e-2),
    Below("accumulated minus batch gradient, relative, without "
          "normalization", relative["without"], 1e-5)]))
report.claim("accumulation_worse_every_seed", Paired(
    "test accuracy", "accumulated 4 x 8", results["accumulated"],
    "batch of 32", results["full"], LOWER, scale=100, unit=" points"))
