# %% [markdown]
# # Running estimates converging to the population statistics
#
# What `running_mean` and `running_var` estimate: the mean and variance of
# a layer's input over the whole training set. Here the first BatchNorm
# layer of an MLP trained on Fashion-MNIST; its weights are frozen, and
# fresh running buffers are fed training batches for several momenta.
#
# In evaluation mode, BatchNorm normalizes with these running estimates
# instead of the statistics of the batch. So their quality decides how
# well the trained model works at test time. This example measures how
# fast, and how precisely, the estimates approach the true values.

# %% [markdown]
# ## A trained MLP and the input of its first BatchNorm layer
#
# The model is the small MLP of `snippets/experiments/models.py`:
# `Flatten`, then `Linear`, `BatchNorm1d`, `ReLU` for each hidden layer,
# then a linear classifier. It is trained briefly with Adam, so that its
# first linear layer produces realistic inputs for the BatchNorm layer
# after it. In fast mode the training stops early (`max_steps`).

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.models import mlp
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import (
    DECREASING,
    LOWER,
    All,
    Below,
    Extreme,
    Greater,
    Ordered,
)
from snippets.support.training import train

torch.manual_seed(0)
report = Report("inference_running_stats")
x_train, y_train = data.load("fashion_mnist", train=True)
model = mlp()
train(model, x_train, y_train, epochs=1, batch_size=128,
      optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
      max_steps=60 if FAST else None)

# %% [markdown]
# From here on the weights do not change. The first two modules of the
# model (`Flatten` and the first `Linear`) turn every training image into
# the vector that the first BatchNorm layer receives. That gives `h`, one
# row per training image and one column per channel.
#
# The mean and the variance of each column of `h` are the **population
# statistics**: the values that the running estimates try to reach. With
# fixed weights they are known exactly, which is what makes this
# experiment possible. During real training the weights move, and the
# target moves with them.

# %%
with torch.no_grad():
    h = model[:2](x_train)                    # Flatten, Linear: (60000, 128)
population_mean, population_var = h.mean(0), h.var(0)

# %% [markdown]
# ## The update rule
#
# After each training-mode batch, with `momentum` $\alpha$:
# `running = (1 - momentum) * running + momentum * batch_statistic`,
# where the variance fed in is the unbiased one. With `momentum=None` the
# weight of batch $t$ is $1/t$ (`num_batches_tracked`): a plain average.
#
# PyTorch's default momentum is 0.1. A small momentum gives each new batch
# a small weight: the estimate moves slowly but averages many batches. A
# large momentum gives the newest batch a large weight: the estimate moves
# fast but follows the noise of single batches.
#
# The code below draws `steps` random batches of rows of `h` (the indices
# come from the generator `g`, so every momentum sees the same batches).
# For each momentum in `momenta` it builds a fresh `nn.BatchNorm1d`, whose
# buffers start at mean 0 and variance 1, and feeds it the batches in
# training mode. After each batch it records two errors, averaged over
# the channels:
#
# - the error of `running_mean`, in units of the population standard
#   deviation of its channel;
# - the error of `running_var`, relative to the population variance.
#
# The `assert` checks that the layer counted every batch in
# `num_batches_tracked`.

# %%
# --8<-- [start:converge]
steps = 60 if FAST else 600
momenta = [0.01, 0.1, 0.5, None]
g = torch.Generator().manual_seed(0)
batch = 128
order = torch.randint(0, len(h), (steps, batch), generator=g)
errors = {}
for momentum in momenta:
    bn = nn.BatchNorm1d(128, momentum=momentum)  # fresh: mean 0, var 1
    mean_error, var_error = [], []
    for batch in order:
        bn(h[batch])                      # train mode: buffers move
        mean_error.append(((bn.running_mean - population_mean).abs()
                           / population_var.sqrt()).mean().item())
        var_error.append(((bn.running_var - population_var).abs()
                          / population_var).mean().item())
    errors[momentum] = mean_error, var_error
    assert bn.num_batches_tracked.item() == steps
# --8<-- [end:converge]

# %% [markdown]
# ## How the errors fall
#
# The figure shows the two errors against the number of batches seen,
# one line per momentum. Both axes are logarithmic, so the first few
# batches and the last ones are both visible. Look for three things:
#
# - **Early on**, which momentum gets close first? A small momentum still
#   remembers the initial values 0 and 1 after many batches.
# - **At the end**, which momentum is lowest, and how much does each line
#   jump from batch to batch? A large momentum keeps following single
#   batches, so its line should stay noisy.
# - **`momentum=None`** (the plain average) should keep falling as long as
#   batches come, because each new batch adds to one average. This suits
#   fixed weights, as here: in real training, the old batches were
#   computed with old weights.
#
# The claims at the end of this example check these three readings.

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0), sharex=True)
for momentum, (mean_error, var_error) in errors.items():
    label = "None (average)" if momentum is None else str(momentum)
    axes[0].plot(range(1, steps + 1), mean_error, label=label)
    axes[1].plot(range(1, steps + 1), var_error, label=label)
axes[0].set_ylabel("error of running_mean\n(in population std)")
axes[1].set_ylabel("relative error of running_var")
for ax in axes:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training batches seen")
handles, labels = axes[1].get_legend_handles_labels()
fig.legend(handles, labels, title="momentum", fontsize=8,
           loc="outside right center")
fig.suptitle(f"First BatchNorm layer of a trained MLP, batches of {batch}",
             fontsize=10)
report.figure(fig, "convergence")

# %% [markdown]
# The table gives the last point of each line in the figure: the two
# errors after all `steps` batches. Compare the rows from top to bottom.
# A lower error here means that an evaluation-mode forward pass would
# normalize with statistics closer to the true ones.

# %%
final = {("None" if m is None else str(m)): errors[m] for m in momenta}
report.table("convergence", [
    "momentum", f"running_mean error after {steps} batches",
    "running_var relative error"], [
    [m, f"{e[0][-1]:.4f}", f"{e[1][-1]:.4f}"] for m, e in final.items()])

# %% [markdown]
# ## Why running_var is fed the unbiased variance
#
# The biased variance of m values drawn independently underestimates the
# population variance on average by the factor (m - 1) / m. The
# from-scratch code of the Chinese d2l edition feeds such biased batch
# variances to its moving average. So an average of them is expected to
# settle at (m - 1) / m of the population variance. PyTorch's update is
# Bessel-corrected (Ioffe & Szegedy's m / (m - 1), Algorithm 2). So its
# average is expected to settle at the population variance. The code
# compares both.
#
# The difference between the two is largest for small batches, so the
# code uses tiny batches of `m` rows, and many of them (`small_steps`).
# A fresh layer with `momentum=None` keeps the plain average of all the
# unbiased batch variances in `running_var`. Next to it, `biased_sum`
# adds up the biased variance of the same batches
# (`correction=0` divides by m instead of m - 1). Both averages are then
# divided by the population variance and averaged over the channels.
#
# Read the two printed ratios. A ratio of 1 means that the estimate is
# right on average. The first ratio should be close to 1 and the second
# close to (m - 1) / m. If the first ratio were close to (m - 1) / m
# instead, the running variance would be biased, and evaluation mode
# would divide by a standard deviation that is too small.

# %%
# --8<-- [start:bessel]
m, small_steps = 4, (500 if FAST else 5000)
small = torch.randint(0, len(h), (small_steps, m), generator=g)
bn = nn.BatchNorm1d(128, momentum=None)   # plain average of all batches
biased_sum = torch.zeros(128)
for batch in small:
    bn(h[batch])
    biased_sum += h[batch].var(0, correction=0)
ratio_torch = (bn.running_var / population_var).mean().item()
ratio_biased = (biased_sum / small_steps / population_var).mean().item()
# --8<-- [end:bessel]
print(f"running_var / population var: {ratio_torch:.3f}")
print(f"averaged biased variance / population var: {ratio_biased:.3f}")

# %% [markdown]
# The same two ratios as a table, with the expected value (m - 1) / m in
# the last row for comparison. The second row should sit near the last
# row, and the first row near 1.

# %%
report.table("bessel", [f"Estimate of the variance, batches of {m}",
                        "Ratio to the population variance"], [
    ["running_var (PyTorch: unbiased batch variance)", f"{ratio_torch:.3f}"],
    ["average of the biased batch variances", f"{ratio_biased:.3f}"],
    ["(m - 1) / m", f"{(m - 1) / m:.3f}"]])

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers recorded here, and each claim is a
# rule that the build checks against this run. A reader can skip this
# section.
#
# First the settings that the page quotes. Then `mean_error` keeps the
# `running_mean` error of each momentum, and `jitter` measures how much
# that error moves from one batch to the next, averaged over the second
# half of the batches (from `tail` on). The jitter is the "noise" of the
# claims below.

# %%
report.values(steps=steps, small_steps=small_steps, m=m)
mean_error = {m: errors[m][0] for m in momenta}
tail = steps // 2  # noise: how much the error moves from batch to batch
jitter = {m: torch.tensor(mean_error[m][tail:]).diff().abs().mean().item()
          for m in momenta}

# %% [markdown]
# `small_momentum_slow_then_precise` checks that a small momentum is slow at
# first and precise at the end. It compares the numbers in `momenta` (not
# `None`). Slow: the claim asks that, after the first few batches (the count
# is in the rule), the error of the smallest momentum is above that of the
# largest. Precise: it asks that, after all `steps` batches, the error falls
# as the momentum falls, from the largest to the middle one to the smallest.

# %%
report.claim("small_momentum_slow_then_precise", All([
    Greater("running_mean error after 10 batches, momentum 0.01",
            mean_error[0.01][9], "momentum 0.5", mean_error[0.5][9]),
    Ordered(f"running_mean error after {steps} batches",
            ["momentum 0.5", "momentum 0.1", "momentum 0.01"],
            [mean_error[0.5][-1], mean_error[0.1][-1], mean_error[0.01][-1]],
            DECREASING)]))

# %% [markdown]
# `large_momentum_fast_but_noisy` checks that a large momentum is fast,
# but noisy. Fast: the claim asks that, after a few batches, the error of
# the largest momentum is below the claim's bound (in population standard
# deviations). Noisy: it asks that, over the second half, its `jitter` is
# larger than that of the smallest momentum, by more than the factor in
# the rule.

# %%
report.claim("large_momentum_fast_but_noisy", All([
    Below("running_mean error after 5 batches, momentum 0.5",
          mean_error[0.5][4], 0.1),
    Greater("mean change of the error from batch to batch, second half, "
            "momentum 0.5", jitter[0.5], "momentum 0.01", jitter[0.01],
            factor=3)]))

# %% [markdown]
# `cumulative_keeps_improving` checks that the plain average
# (`momentum=None`) keeps improving. It asks that its error falls from a
# tenth of the batches to half of them to all of them (`checkpoints`). It
# also asks that, after all `steps` batches, its error is the lowest of
# all the momenta.

# %%
checkpoints = [steps // 10, steps // 2, steps]
report.claim("cumulative_keeps_improving", All([
    Ordered("running_mean error, momentum None",
            [f"after {n} batches" for n in checkpoints],
            [mean_error[None][n - 1] for n in checkpoints], DECREASING),
    Extreme(f"running_mean error after {steps} batches",
            {f"momentum {m}": mean_error[m][-1] for m in momenta},
            "momentum None", LOWER)]))

# %% [markdown]
# `bessel_correction_unbiased` checks the Bessel correction. It asks that
# the ratio of `running_var` to the population variance is within the
# claim's bound of 1. It also asks that the ratio for the average of the
# biased variances is within the same bound of (m - 1) / m.

# %%
report.claim("bessel_correction_unbiased", All([
    Below("|running_var / population variance - 1|", abs(ratio_torch - 1),
          0.02),
    Below("|average biased variance / population variance - (m - 1) / m|",
          abs(ratio_biased - (m - 1) / m), 0.02)]))
