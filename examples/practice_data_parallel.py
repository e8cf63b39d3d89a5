# %% [markdown]
# # Data-parallel BatchNorm, run for real
#
# Two processes, joined in a `torch.distributed` group (gloo, on the CPU),
# each hold part of one global batch of Fashion-MNIST features. Each
# normalizes its part twice: with a from-scratch synchronized BatchNorm
# (statistics all-reduced over both processes) and with its own
# `nn.BatchNorm2d` (per-replica statistics, what data-parallel training
# does by default). Both are compared with BatchNorm on the whole global
# batch in one process; then `DistributedDataParallel` trains a small
# model, with and without its buffer synchronization.

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
# Rank 0 holds 5 images, rank 1 holds 11: the 16 of the global batch.
# `launch` (in `snippets/experiments/distributed.py`) starts the two
# processes, runs the worker in each and returns what each returned.

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


sync, local = largest_difference("sync"), largest_difference("local")
scale = x.abs().max().item()
for name in sync:
    print(f"{name:16s} sync {sync[name]:.2e}   per replica "
          f"{local[name]:.2e}")
report.table("equality", [
    "Compared with BatchNorm on the global batch",
    "SyncBatchNorm (from scratch), largest difference",
    "Per-replica BatchNorm2d, largest difference"],
    [[name, f"{sync[name]:.1e}", f"{local[name]:.2g}"] for name in sync])

# %% [markdown]
# ## How far per-replica statistics are off, by per-process batch size
#
# For each per-process batch size b, 2 x b images drawn at random, split
# between the two processes; the root mean square difference between each
# layer's outputs and BatchNorm's on the 2 b images, over several draws.

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
# A convolution and a BatchNorm2d, trained for a few steps by DDP on two
# processes, each on its own images. A hook records the first channel's
# `running_mean` at the start of every forward pass, on each process:
# once with DDP's default (`forward_sync_buffers=True`), once with it off.

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
report.table("ddp_buffers", [
    "running_mean[0]", "default: rank 0", "default: rank 1",
    "forward_sync_buffers=False: rank 0",
    "forward_sync_buffers=False: rank 1"], rows)
for row in rows:
    print(row)

# %% [markdown]
# `nn.SyncBatchNorm` itself, in the same kind of two-process group, on CPU
# tensors: in training mode, then in eval mode.

# %%
print(distributed.launch(distributed.sync_batchnorm_on_cpu, 2)[0])

# %%
report.values(
    sync_worst=f"{max(sync.values()):.1e}",
    local_output=f"{local['outputs']:.2g}",
    local_grad=f"{local['input gradients']:.2g}",
    smallest=per_rank[0], largest=per_rank[-1],
    local_small=f"{rms['local'][0]:.2g}", local_large=f"{rms['local'][-1]:.2g}",
    sync_rms=f"{max(rms['sync']):.1e}", steps=steps, channels=C,
    rank_0=sizes[0], rank_1=sizes[1], global_batch=sum(sizes))
# Differences in the units of the inputs: 1e-4 of the largest input is
# float32 rounding, far below what per-replica statistics change.
report.claim("sync_equals_global_batch", Below(
    "largest difference, SyncBatchNorm against the global batch (outputs, "
    "gradients, running statistics)", max(sync.values()), 1e-4 * scale))
# The bias gradient is the sum of the upstream gradients, whatever the
# statistics: the same for every layer, so it is left out here. Per
# replica is 100 times as far off, and above rounding even where the
# synchronized difference is exactly 0.
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
