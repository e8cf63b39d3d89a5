# %% [markdown]
# # What the from-scratch layer costs
#
# The readable BatchNorm of `snippets/batchnorm.py` against PyTorch's fused
# `nn.BatchNorm2d`: forward plus backward on a realistic activation tensor,
# median wall-clock time over repeated runs on the machine that built the
# site (CPU).

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.batchnorm import BatchNorm, batch_norm_manual
from snippets.report import FAST, Report

report = Report("bn_cost")
torch.manual_seed(0)
shape = (8, 16, 16, 16) if FAST else (32, 64, 32, 32)
repeats = 3 if FAST else 25

# %%
# --8<-- [start:timing]
def median_ms(layer, x, repeats):
    """Median time of one forward + backward pass, in milliseconds."""
    grad_out = torch.randn_like(x)
    times = []
    for i in range(repeats + 3):  # 3 warm-up runs are not counted
        x_in = x.detach().requires_grad_()
        start = time.perf_counter()
        layer(x_in).backward(grad_out)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


x = torch.randn(shape) * 2 + 1
torch_bn, ours = nn.BatchNorm2d(shape[1]), BatchNorm(shape[1])
manual = lambda x: batch_norm_manual(x, ours.weight, ours.bias)  # noqa
results = {name: median_ms(layer, x, repeats) for name, layer in [
    ("nn.BatchNorm2d", torch_bn), ("BatchNorm (from scratch)", ours),
    ("batch_norm_manual (hand backward)", manual)]}
# --8<-- [end:timing]
for name, ms in results.items():
    print(f"{name:>34}: {ms:.2f} ms")

# %%
base = results["nn.BatchNorm2d"]
fig, ax = plt.subplots(figsize=(7.2, 2.4))
names = list(results)
ax.barh(names, [results[n] for n in names], color=["C0", "C1", "C2"])
ax.invert_yaxis()
ax.set_xlabel("median forward + backward time (ms)")
ax.set_title(f"Input {tuple(shape)}, float32, CPU", fontsize=10)
report.figure(fig, "cost")

report.table("cost", ["Implementation", "Median time (ms)",
                      "Relative to nn.BatchNorm2d"],
             [[n, f"{ms:.2f}", f"{ms / base:.1f}x"]
              for n, ms in results.items()])
report.values(
    shape=" x ".join(map(str, shape)), repeats=repeats,
    ratio=f"{results['BatchNorm (from scratch)'] / base:.1f}",
    threads=torch.get_num_threads(),
)
