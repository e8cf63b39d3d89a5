# %% [markdown]
# # What the from-scratch layer costs
#
# The readable BatchNorm of `snippets/layers/batchnorm.py` against
# PyTorch's `nn.BatchNorm2d`: forward plus backward on a realistic
# activation tensor, wall-clock time over repeated rounds (the three take
# turns, so all see the same machine conditions) on the CPU that built the
# site.
#
# The from-scratch layer is written to be read and tested: each step of
# the algorithm is a separate tensor operation. This lesson asks what that
# costs in time, and shows one reason for the cost that does not depend
# on the machine: the number of operations that autograd records.
#
# Times change from machine to machine and from run to run. This example
# records them apart from its other numbers, and the site's tests do not
# expect two runs to give the same times.

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.layers.batchnorm import BatchNorm, batch_norm_manual
from snippets.support.report import FAST, Report
from snippets.support.rules import Above, All, Equal

report = Report("bn_cost")
torch.manual_seed(0)
shape = (8, 16, 16, 16) if FAST else (32, 64, 32, 32)
repeats = 3 if FAST else 25

# %% [markdown]
# `shape` is the size of the activation tensor, `(N, C, H, W)`, and
# `repeats` is the number of timed rounds. The fast build uses a smaller
# tensor and fewer rounds.
#
# ## Timing forward plus backward
#
# `time_ms` runs one forward and one backward pass and returns the
# wall-clock time in milliseconds. The input is detached and made to
# require a gradient again each time, so the backward pass always
# computes the input gradient as in training.
#
# Three implementations are timed on the same `x` and `grad_out`:
#
# - `nn.BatchNorm2d`, PyTorch's own layer.
# - `BatchNorm (from scratch)`, the readable layer. Autograd derives its
#   backward pass from the separate operations of its forward pass.
# - `batch_norm_manual (hand backward)`, the closed-form backward pass of
#   the lesson `bn_backward`, with the weight and bias of the readable
#   layer.
#
# The loop runs a few warm-up rounds first, which are not counted, so
# that the timed rounds measure layers that have already run. In each
# round the three layers take turns, so a
# slow moment of the machine affects all three. `results` keeps the median
# time of each layer. `ratios` divides each layer's time by the time of
# `nn.BatchNorm2d` in the same round, and keeps the median of these ratios.
# A median is less sensitive than a mean to a few slow rounds.

# %%
# --8<-- [start:timing]
def time_ms(layer, x, grad_out):
    """Time of one forward + backward pass, in milliseconds."""
    x_in = x.detach().requires_grad_()
    start = time.perf_counter()
    layer(x_in).backward(grad_out)
    return 1000 * (time.perf_counter() - start)


x = torch.randn(shape) * 2 + 1
grad_out = torch.randn(shape)
ours = BatchNorm(shape[1])
layers = {
    "nn.BatchNorm2d": nn.BatchNorm2d(shape[1]),
    "BatchNorm (from scratch)": ours,
    "batch_norm_manual (hand backward)":
        lambda x: batch_norm_manual(x, ours.weight, ours.bias),
}
times = {name: [] for name in layers}
for i in range(repeats + 3):        # round-robin; 3 warm-up rounds
    for name, layer in layers.items():
        t = time_ms(layer, x, grad_out)
        if i >= 3:
            times[name].append(t)
results = {name: statistics.median(t) for name, t in times.items()}
# Ratio to nn.BatchNorm2d, round by round, then the median.
ratios = {name: statistics.median(a / b for a, b in zip(
    t, times["nn.BatchNorm2d"])) for name, t in times.items()}
# --8<-- [end:timing]

# %% [markdown]
# The table gives each layer's median time and its median ratio to
# `nn.BatchNorm2d`. Look at the last column first: a ratio above 1 means
# the layer took longer than `nn.BatchNorm2d` in a typical round. The
# ratio is computed round by round, so a round in which the whole machine
# was slow changes it less than it changes the times. Still, it depends
# on the machine, on the number of threads and on `shape`, so treat it as
# a description of this run only.

# %%
report.table("timing_cost", ["Implementation", "Median time (ms)",
                             "Relative to nn.BatchNorm2d"],
             [[n, f"{ms:.2f}", f"{ratios[n]:.1f}x"]
              for n, ms in results.items()])

# %% [markdown]
# The same median times as bars. The longest bar belongs to the slowest
# layer in this run.

# %%
fig, ax = plt.subplots(figsize=(7.2, 2.4))
names = list(results)
ax.barh(names, [results[n] for n in names], color=["C0", "C1", "C2"])
ax.invert_yaxis()
ax.set_xlabel("median forward + backward time (ms)")
ax.set_title(f"Input {tuple(shape)}, float32, CPU", fontsize=10)
report.figure(fig, "timing_cost")


# %% [markdown]
# ## What autograd records
#
# The operations each layer records for the backward pass, counted in its
# autograd graph (the same on every run, unlike the times).
#
# `autograd_nodes` starts at the `grad_fn` of the output and follows
# `next_functions` back through the graph, counting each node once. It
# skips `AccumulateGrad` nodes: they store a gradient into a leaf tensor,
# such as a parameter, and are not operations of the layer.
#
# In the printed dictionary, compare the three counts. `nn.BatchNorm2d`
# and `batch_norm_manual` should each record one node. The readable layer
# records one node for each of its separate operations. More operations
# mean more separate steps, in the forward and in the backward pass. This
# is one reason why the readable layer can be slower, whatever the
# machine. But a count of nodes does not measure all the work: the
# single node of `batch_norm_manual` still runs the several tensor
# operations of its closed form.

# %%
# --8<-- [start:nodes]
def autograd_nodes(output):
    """The operations autograd recorded to produce ``output``."""
    seen, todo = set(), [output.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen or type(node).__name__ == \
                "AccumulateGrad":  # a leaf (a parameter), not an operation
            continue
        seen.add(node)
        todo += [next_node for next_node, _ in node.next_functions]
    return len(seen)


x_in = x.detach().requires_grad_()
nodes = {name: autograd_nodes(layer(x_in)) for name, layer in layers.items()}
print(nodes)
# --8<-- [end:nodes]

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section. The
# ratio goes to the timings, which no two runs reproduce; the node counts
# are the same on every run.

# %%
report.values(shape=" x ".join(map(str, shape)), repeats=repeats,
              threads=torch.get_num_threads())
report.timings(ratio=f"{ratios['BatchNorm (from scratch)']:.1f}")
report.values(nodes_ours=nodes["BatchNorm (from scratch)"])
report.claim("from_scratch_records_many_operations", All([
    Equal("autograd operations, nn.BatchNorm2d", nodes["nn.BatchNorm2d"], 1),
    Equal("autograd operations, batch_norm_manual",
          nodes["batch_norm_manual (hand backward)"], 1),
    Above("autograd operations, BatchNorm (from scratch)",
          nodes["BatchNorm (from scratch)"], 1)]))
