# %% [markdown]
# # What the from-scratch layer costs
#
# The readable BatchNorm of `snippets/layers/batchnorm.py` against
# PyTorch's fused `nn.BatchNorm2d`: forward plus backward on a realistic
# activation tensor, wall-clock time over repeated rounds (the three take
# turns, so all see the same machine conditions) on the CPU that built the
# site.

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
for name, ms in results.items():
    print(f"{name:>34}: {ms:.2f} ms")

# %%
fig, ax = plt.subplots(figsize=(7.2, 2.4))
names = list(results)
ax.barh(names, [results[n] for n in names], color=["C0", "C1", "C2"])
ax.invert_yaxis()
ax.set_xlabel("median forward + backward time (ms)")
ax.set_title(f"Input {tuple(shape)}, float32, CPU", fontsize=10)
report.figure(fig, "timing_cost")

report.table("timing_cost", ["Implementation", "Median time (ms)",
                             "Relative to nn.BatchNorm2d"],
             [[n, f"{ms:.2f}", f"{ratios[n]:.1f}x"]
              for n, ms in results.items()])
report.values(shape=" x ".join(map(str, shape)), repeats=repeats,
              threads=torch.get_num_threads())
report.timings(ratio=f"{ratios['BatchNorm (from scratch)']:.1f}")


# %% [markdown]
# ## What autograd records
#
# The operations each layer records for the backward pass, counted in its
# autograd graph (the same on every run, unlike the times).

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
report.values(nodes_ours=nodes["BatchNorm (from scratch)"])
report.claim("from_scratch_records_many_operations", All([
    Equal("autograd operations, nn.BatchNorm2d", nodes["nn.BatchNorm2d"], 1),
    Equal("autograd operations, batch_norm_manual",
          nodes["batch_norm_manual (hand backward)"], 1),
    Above("autograd operations, BatchNorm (from scratch)",
          nodes["BatchNorm (from scratch)"], 1)]))
