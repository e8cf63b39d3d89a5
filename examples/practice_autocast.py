# %% [markdown]
# # BatchNorm under autocast, and with channels_last input
#
# Mixed precision on the CPU: inside `torch.autocast("cpu",
# dtype=torch.bfloat16)`, a convolution computes in bfloat16, and the
# BatchNorm2d layer after it receives a bfloat16 tensor. This example asks
# PyTorch which dtype each tensor has, how far the bfloat16 results are
# from float32 ones, and what a `channels_last` input changes.

# %%
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import Report
from snippets.support.rules import Above, All, Below, Greater

report = Report("practice_autocast")
torch.manual_seed(0)  # the layers' initial weights below
images, _ = data.load("fashion_mnist", train=False)
x = images[:64]

# %%
# --8<-- [start:autocast]
conv, bn = nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8)
with torch.autocast("cpu", dtype=torch.bfloat16):
    h = conv(x)           # computed in bfloat16
    y = bn(h)             # a bfloat16 input
    y_float = bn(h.float())  # a float32 input, inside autocast too
dtypes = {"conv output": h.dtype, "BatchNorm2d output": y.dtype,
          "output for a float32 input": y_float.dtype,
          "weight": bn.weight.dtype, "running_mean": bn.running_mean.dtype,
          "running_var": bn.running_var.dtype}
# --8<-- [end:autocast]
print(dtypes)

# %% [markdown]
# How far the bfloat16 path is from float32, with the same layers: a
# fresh BatchNorm2d with the same (initial) parameters, in float32.

# %%
reference = nn.BatchNorm2d(8)
with torch.no_grad():
    y32 = reference(conv(x))
low_precision = (y.float() - y32).abs().max().item()
print(f"bfloat16 vs float32 outputs: {low_precision:.3f} "
      f"(outputs up to {y32.abs().max():.1f})")

# %% [markdown]
# ## channels_last
#
# The same float32 features, stored as (N, H, W, C) in memory
# (`channels_last`) rather than (N, C, H, W): two fresh layers, one each.

# %%
# --8<-- [start:channels_last]
h32 = conv(x).detach()
last = h32.contiguous(memory_format=torch.channels_last)
first_bn, last_bn = nn.BatchNorm2d(8), nn.BatchNorm2d(8)
out_first, out_last = first_bn(h32), last_bn(last)
layout = out_last.is_contiguous(memory_format=torch.channels_last)
gap = (out_first - out_last).abs().max().item()
gap_var = (first_bn.running_var - last_bn.running_var).abs().max().item()
# Which one is off? Both against the same computation in float64.
exact = nn.BatchNorm2d(8).double()(h32.double())
error_first = (out_first.double() - exact).abs().max().item()
error_last = (out_last.double() - exact).abs().max().item()
# --8<-- [end:channels_last]
print(f"channels_last output: {layout}; largest difference {gap:.1e}, "
      f"running_var {gap_var:.1e}; from float64: contiguous "
      f"{error_first:.1e}, channels_last {error_last:.1e}")

# %%
report.table("dtypes", ["Tensor (inside autocast)", "dtype"],
             [[name, str(dtype).replace("torch.", "")]
              for name, dtype in dtypes.items()])
report.values(low_precision=f"{low_precision:.2g}", images=len(x),
              scale=f"{y32.abs().max():.1f}", gap=f"{gap:.1e}",
              gap_var=f"{gap_var:.1e}", error_first=f"{error_first:.1e}",
              error_last=f"{error_last:.1e}")
# bfloat16 keeps 8 significant bits: a relative rounding of 2 ** -8 at
# most per operation. The gap, relative to the outputs' size, should be of
# that order: more than 2 ** -10, less than a few bfloat16 epsilons.
relative = low_precision / y32.abs().max().item()
measure = "largest difference, bfloat16 minus float32, over the largest output"
report.claim("bfloat16_rounding", All([
    Above(measure, relative, 2 ** -10), Below(measure, relative, 4 * 2 ** -7)]))
report.claim("channels_last_same_result", All([
    Below("largest output difference, channels_last minus contiguous", gap,
          1e-3),
    Below("largest running_var difference, channels_last minus contiguous",
          gap_var, 1e-5)]))
report.claim("channels_last_less_precise", Greater(
    "channels_last, largest difference from float64", error_last,
    "contiguous, largest difference from float64", error_first, factor=10))
