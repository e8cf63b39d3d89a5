# %% [markdown]
# # BatchNorm under autocast, and with channels_last input
#
# Mixed precision on the CPU: inside `torch.autocast("cpu",
# dtype=torch.bfloat16)`, a convolution computes in bfloat16, and the
# BatchNorm2d layer after it receives a bfloat16 tensor. This example asks
# PyTorch three questions:
#
# 1. Which dtype does each tensor have: the outputs, the parameters and
#    the running statistics?
# 2. How far are the bfloat16 results from the float32 ones?
# 3. What changes when the input is stored in the `channels_last` memory
#    layout?
#
# The answers matter when a model with BatchNorm trains in mixed precision,
# or when its inputs come in another memory layout: we want to know what
# BatchNorm keeps in float32, and how much precision each path loses.

# %%
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import Report
from snippets.support.rules import Above, All, Below, Greater

# %% [markdown]
# The input `x` is a small batch of Fashion-MNIST test images, one
# channel each. The seed fixes the initial weights of the layers that the
# next cells build.

# %%
report = Report("practice_autocast")
torch.manual_seed(0)  # the layers' initial weights below
images, _ = data.load("fashion_mnist", train=False)
x = images[:64]

# %% [markdown]
# ## Which dtypes come out of autocast
#
# A convolution, then a BatchNorm2d layer, both built in float32. Inside
# the autocast block, the convolution's output `h` is computed in
# bfloat16, and the BatchNorm2d layer gets it as its input. The same layer
# is then called a second time on `h.float()`, a float32 copy of the same
# values, still inside autocast. Both calls are in training mode, so both
# use the statistics of the batch.

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

# %% [markdown]
# The table lists the dtype of each tensor. Compare the two BatchNorm2d
# outputs: does the output follow the dtype of the input, or does
# autocast decide it? Then look at the last three rows: the weight and
# the running statistics are the layer's state, which lasts across
# training steps. Their dtype tells us whether BatchNorm keeps its state
# in float32 while its input is bfloat16.

# %%
report.table("dtypes", ["Tensor (inside autocast)", "dtype"],
             [[name, str(dtype).replace("torch.", "")]
              for name, dtype in dtypes.items()])

# %% [markdown]
# ## How far bfloat16 is from float32
#
# Now the same computation in float32: the same convolution, outside
# autocast, and a fresh BatchNorm2d layer. A fresh layer has the same
# initial weight and bias as `bn`, and in training mode it also normalizes
# with the statistics of the batch, so the only difference is the
# precision. `low_precision` is the largest absolute difference between
# the two outputs.
#
# The line also prints the largest output, for scale: a difference means
# little without the size of the values it is measured on. bfloat16 keeps
# fewer significant bits than float32, so expect a difference well above
# float32 rounding, of the order of bfloat16 rounding relative to the
# outputs. A claim at the end checks that order.

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
# (`channels_last`) rather than (N, C, H, W). The values of the tensor are
# the same; only the order in memory differs. Two fresh BatchNorm2d
# layers get one layout each, in training mode.
#
# To see which result is more precise, the code also computes the same
# normalization in float64 (`exact`), and measures how far each float32
# result is from it.

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

# %% [markdown]
# The printed line has four parts. The first says whether the output keeps
# the `channels_last` layout of its input. The next two are the largest
# differences between the two layouts, in the outputs and in the running
# variance. Both should be small next to the outputs above: the layout
# should not change what BatchNorm computes. The last part compares each
# layout with float64. If one layout is much further from float64 than
# the other, it is that layout's computation that loses precision, not
# the other's. The claims at the end record what this run, on this
# machine, found.

# %%
print(f"channels_last output: {layout}; largest difference {gap:.1e}, "
      f"running_var {gap_var:.1e}; from float64: contiguous "
      f"{error_first:.1e}, channels_last {error_last:.1e}")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# bfloat16 keeps 8 significant bits: a relative rounding of at most
# 2 ** -8 per operation. So the bfloat16 difference, relative to the size
# of the outputs, should be of that order: the claim's lower bound is a
# little below it, and its upper bound is a few bfloat16 epsilons. The
# other two claims compare the two layouts with each other and with
# float64.

# %%
report.values(low_precision=f"{low_precision:.2g}", images=len(x),
              scale=f"{y32.abs().max():.1f}", gap=f"{gap:.1e}",
              gap_var=f"{gap_var:.1e}", error_first=f"{error_first:.1e}",
              error_last=f"{error_last:.1e}")
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
