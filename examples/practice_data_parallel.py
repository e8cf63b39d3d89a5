# %% [markdown]
# # Data-parallel BatchNorm, run for real
#
# In data-parallel training, each process (a replica) holds a copy of the
# model and a part of the global batch. A BatchNorm layer in one copy sees
# only its own part. So, unless something synchronizes them, its
# statistics are those of a smaller batch, and they differ from process
# to process.
#
# Here two processes, joined in a `torch.distributed` group (gloo, on the
# CPU), each hold part of one global batch of Fashion-MNIST features. Each
# normalizes its part twice: with a from-scratch synchronized BatchNorm
# (statistics all-reduced over both processes) and with its own
# `nn.BatchNorm2d` (per-replica statistics, what data-parallel training
# does by default). Both are compared with BatchNorm on the whole global
# batch in one process. Then `DistributedDataParallel` trains a small
# model, with and without its buffer synchronization, and we watch the
# running statistics of each process.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments import distributed
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import (
    DECREASING,
    Above,
    All,
    Below,
    Equal,
    Greater,
    Ordered,
)

# %% [markdown]
# The features: Fashion-MNIST test images through a fixed convolution,
# seeded, that never trains. `pool` holds its outputs, the kind of tensor
# a BatchNorm2d layer after this convolution would see. `C` is its number
# of channels. The later cells draw their batches from `pool`.

# %%
report = Report("practice_data_parallel")
images, _ = data.load("fashion_mnist", train=False)
torch.manual_seed(0)
features = nn.Conv2d(1, 8, 5, stride=2)  # a fixed, seeded first layer
with torch.no_grad():
    pool = features(images[:4096])  # (N, 8, 12, 12): what BN would see
C = pool.size(1)

# %% [markdown]
# ## One global batch, two processes, uneven parts
#
# `sizes` gives the number of images each process holds; together they
# make the global batch `x`, drawn at random from `pool`. The parts are
# uneven on purpose: a synchronized BatchNorm must weigh each process by
# its number of values, not take the mean of the two means. `grad_y` is
# a random upstream gradient, the input of the backward pass.
#
# `launch` (in `snippets/experiments/distributed.py`) starts the two
# processes, runs the worker `sync_against_local` in each, and returns
# what each returned. The worker normalizes its own rows of `x` with both
# layers and returns their outputs, input gradients, parameter gradients
# and running statistics.
#
# The reference is computed here, in one process: one BatchNorm2d layer on
# the whole global batch, with the same weight and bias as the workers'
# layers, and the same upstream gradient.

# %%
# --8<-- [start:launch]
sizes = [5, 11]  # images per process: the global batch is 16
g = torch.Generator().manual_seed(0)
x = pool[torch.randperm(len(pool), generator=g)[:sum(sizes)]]
grad_y = torch.randn(x.shape, generator=g)  # some upstream gradient
ranks = distributed.launch(distributed.sync_against_local, 2, x, grad_y,
                           sizes)

# The reference: BatchNorm on the whole global batch, in one process.
reference = nn.BatchNorm2d(C)
with torch.no_grad():
    reference.weight.copy_(torch.linspace(0.5, 1.5, C))
    reference.bias.copy_(torch.linspace(-0.5, 0.5, C))
x_all = x.clone().requires_grad_()
y_all = reference(x_all)
y_all.backward(grad_y)
# --8<-- [end:launch]


# %% [markdown]
# `largest_difference` compares one kind of layer (`"sync"` or
# `"local"`) with the reference, for each quantity. Outputs, input
# gradients and running statistics are compared process by process, each
# with the reference's rows or buffers. The weight and bias gradients are
# different: each process holds the gradient of its own part, so their sum
# over the processes is what should match the reference. The function
# returns the largest absolute difference for each quantity.

# %%
def largest_difference(kind):
    """Largest difference from the reference, over both processes."""
    rows = {
        "outputs": [(r[kind]["y"], distributed.split(
            y_all.detach(), sizes, rank))
            for rank, r in enumerate(ranks)],
        "input gradients": [(r[kind]["grad_x"], distributed.split(
            x_all.grad, sizes, rank)) for rank, r in enumerate(ranks)],
        # each process holds its share; their sum is the global batch's
        # gradient (DDP's all-reduce sums, then divides by the processes)
        "weight gradient": [(sum(r[kind]["grad_weight"] for r in ranks),
                             reference.weight.grad)],
        "bias gradient": [(sum(r[kind]["grad_bias"] for r in ranks),
                           reference.bias.grad)],
        "running_mean": [(r[kind]["running_mean"], reference.running_mean)
                         for r in ranks],
        "running_var": [(r[kind]["running_var"], reference.running_var)
                        for r in ranks]}
    return {name: max((a - b).abs().max().item() for a, b in pairs)
            for name, pairs in rows.items()}


# %% [markdown]
# The table has one row per quantity and one column per layer. Read the
# synchronized column first: if the from-scratch layer works, every row
# is at the level of float32 rounding, because it normalizes with the
# statistics of the whole global batch. Then read the per-replica column:
# there each process used the statistics of its own part, so outputs,
# input gradients and running statistics can move far from the reference.
#
# One row should agree in both columns: the bias gradient. It is the sum
# of the upstream gradient over the samples, whatever statistics
# normalized them. The claims at the end check each of these readings.
#
# `scale`, the largest absolute value in the global batch `x`, is kept for
# those claims: it tells what float32 rounding means for inputs of this
# size. (It is computed here because `x` is used for another batch later.)

# %%
sync, local = largest_difference("sync"), largest_difference("local")
scale = x.abs().max().item()
report.table("equality", [
    "Compared with BatchNorm on the global batch",
    "SyncBatchNorm (from scratch), largest difference",
    "Per-replica BatchNorm2d, largest difference"],
    [[name, f"{sync[name]:.1e}", f"{local[name]:.2g}"] for name in sync])

# %% [markdown]
# ## How far per-replica statistics are off, by per-process batch size
#
# The error of per-replica BatchNorm should depend on how many images each
# process holds. For each per-process batch size b in `per_rank`, we draw
# b images at random for each process. Each process normalizes its b
# images with the synchronized layer and with its own BatchNorm2d, and
# compares both with BatchNorm on all the images of the draw, its own and
# the other process's. This repeats for `draws` random draws.
#
# The worker `squared_errors` returns sums of squared differences and the
# number of values they cover. `rms` turns them into one root mean square
# difference per layer and per size, over both processes and all draws.
# The printed lists give these numbers, smallest size first.

# %%
per_rank = [2, 4, 8, 16, 32] if FAST else [2, 4, 8, 16, 32, 64, 128]
draws = 3 if FAST else 20
picks = torch.stack([torch.randperm(len(pool), generator=g)[:2 * per_rank[-1]]
                     for _ in range(draws)])  # (draws, 2 x largest size)
sums = distributed.launch(distributed.squared_errors, 2, pool[picks],
                          per_rank)
rms = {kind: [(sum(s[b][kind] for s in sums)
               / sum(s[b]["values"] for s in sums)).sqrt().item()
              for b in per_rank] for kind in ("sync", "local")}
print({kind: [f"{v:.1e}" for v in values] for kind, values in rms.items()})

# %% [markdown]
# The figure draws the same numbers, with both axes on a log scale. Follow
# the per-replica line from right to left: a smaller part per process
# gives noisier statistics, so we expect the line to rise as the parts
# shrink. With few draws the line need not fall at every step; the claim
# at the end checks whether it does. The synchronized line should stay at
# float32 rounding at every size, far below the other: it does not depend
# on how the batch is split.

# %%
fig, ax = plt.subplots()
ax.plot(per_rank, rms["local"], "o-", label="per-replica nn.BatchNorm2d")
ax.plot(per_rank, rms["sync"], "s-", label="SyncBatchNorm (from scratch)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xticks(per_rank, [str(b) for b in per_rank])
ax.set_xlabel("images per process (2 processes)")
ax.set_ylabel("RMS difference from BatchNorm\non the global batch")
ax.set_title(f"{C} channels of a fixed conv layer on Fashion-MNIST, "
             f"{draws} draws of images per size", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "per_replica")

# %% [markdown]
# ## DistributedDataParallel and the running statistics
#
# `DistributedDataParallel` (DDP) averages the gradients over the
# processes. The running statistics are buffers, not parameters, so they
# get no gradient. What DDP does with them is the subject of this section.
#
# The worker `ddp_buffers` trains a convolution and a BatchNorm2d with DDP
# for `steps` steps on two processes, each on its own images. A hook
# records the first channel's `running_mean` at the start of every
# forward pass of the BatchNorm layer, on each process. The worker also
# returns the value after the last step. It runs once with DDP's default
# (`forward_sync_buffers=True`: rank 0's buffers are broadcast at the
# start of each forward pass), once with the broadcast off.

# %%
steps = 3 if FAST else 5
x = images[:steps * 2 * 8]
seen = {flag: distributed.launch(distributed.ddp_buffers, 2, x, steps, flag)
        for flag in (True, False)}
rows = []
for step in range(steps + 1):
    when = f"before forward {step + 1}" if step < steps else "after training"
    rows.append([when] + [f"{seen[flag][rank][step]:.4f}"
                          for flag in (True, False) for rank in (0, 1)])

# %% [markdown]
# The table has one row per reading and one column per process and
# setting. With the default, compare the two "default" columns row by
# row. Before each forward pass, rank 1 should hold exactly rank 0's value:
# the broadcast overwrote its own update. After training there is no
# forward pass left, so each process keeps its own last update.
#
# With `forward_sync_buffers=False`, the two processes update their
# statistics from different images and nothing copies them. Look for the
# first row where the two columns differ.
#
# This matters when rank 0 saves a checkpoint. The running statistics in
# the checkpoint are rank 0's, and rank 0 estimated them from its own
# images only. With the default, the other processes get rank 0's
# statistics at every forward pass, so their own updates are lost.

# %%
report.table("ddp_buffers", [
    "running_mean[0]", "default: rank 0", "default: rank 1",
    "forward_sync_buffers=False: rank 0",
    "forward_sync_buffers=False: rank 1"], rows)

# %% [markdown]
# Finally `nn.SyncBatchNorm` itself, in the same kind of two-process
# group, on CPU tensors: in training mode, then in eval mode. The printed
# pair is rank 0's answer. The first item is what happened in training
# mode (the error message, if any). The second is the output shape in eval
# mode. This is why the sections above use a synchronized BatchNorm
# written from scratch.

# %%
print(distributed.launch(distributed.sync_batchnorm_on_cpu, 2)[0])

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# The differences are measured in the units of the inputs: the bounds for
# "the same" are a small fraction of `scale`, the largest input.
# `sync_equals_global_batch` asks that every difference between
# SyncBatchNorm and the global batch is below such a bound.
#
# The bias gradient is the sum of the upstream gradients, whatever the
# statistics, so it is the same for every layer. `bias_gradient_same`
# checks it alone, and `per_replica_differs` leaves it out. For each
# other quantity, `per_replica_differs` asks that the per-replica
# difference is larger than `factor` times the synchronized one, plus
# `margin`, a level meant to be above rounding. So the claim asks for a
# real difference even where the synchronized difference is exactly 0.

# %%
report.values(
    sync_worst=f"{max(sync.values()):.1e}",
    local_output=f"{local['outputs']:.2g}",
    local_grad=f"{local['input gradients']:.2g}",
    smallest=per_rank[0], largest=per_rank[-1],
    local_small=f"{rms['local'][0]:.2g}", local_large=f"{rms['local'][-1]:.2g}",
    sync_rms=f"{max(rms['sync']):.1e}", steps=steps, channels=C,
    rank_0=sizes[0], rank_1=sizes[1], global_batch=sum(sizes))
report.claim("sync_equals_global_batch", Below(
    "largest difference, SyncBatchNorm against the global batch (outputs, "
    "gradients, running statistics)", max(sync.values()), 1e-4 * scale))
moved = {k: v for k, v in local.items() if k != "bias gradient"}
report.claim("per_replica_differs", All([
    Greater(f"largest difference, per-replica {k}", v,
            f"largest difference, synchronized {k}", sync[k], factor=100,
            margin=1e-5) for k, v in moved.items()]))
report.claim("bias_gradient_same", Below(
    "largest difference, per-replica bias gradient against the global "
    "batch", local["bias gradient"], 1e-4 * scale))
report.claim("per_replica_worse_as_batch_shrinks", Ordered(
    "RMS difference of per-replica outputs from the global batch",
    [f"{b} per process" for b in per_rank], rms["local"], DECREASING))
report.claim("sync_at_every_size", Below(
    "largest RMS difference of SyncBatchNorm outputs, over every size",
    max(rms["sync"]), 1e-5))
default, off = seen[True], seen[False]
report.claim("ddp_rank_0_buffers_every_forward", All([
    Equal("forwards where rank 1 started from rank 0's running_mean",
          sum(a == b for a, b in zip(default[0][:steps],
                                     default[1][:steps])), steps),
    Above("running_mean[0] after training, rank 0 minus rank 1, absolute",
          abs(default[0][steps] - default[1][steps]), 0)]))
report.claim("ddp_buffers_drift_without_sync", Equal(
    "running_mean[0] readings after the first where the two ranks differ",
    sum(a != b for a, b in zip(off[0][1:], off[1][1:])), steps))
