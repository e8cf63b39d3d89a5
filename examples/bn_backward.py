# %% [markdown]
# # The backward pass, derived and checked
#
# The gradient of training-mode batch normalization with respect to its
# input, weight and bias in closed form (`batch_norm_manual` in
# `snippets/layers/batchnorm.py`; first derivatives only), checked against
# finite differences with `torch.autograd.gradcheck` and against PyTorch's
# own autograd through `nn.BatchNorm2d`.
#
# In training mode every output of the layer depends on every input of
# its channel, because the mean and the variance are computed from all of
# them. So the gradient with respect to one input has three parts: the
# direct path, the path through the mean, and the path through the
# variance. The closed form adds these parts by hand. This lesson checks
# it in two independent ways, and then looks at what the formula says
# about the gradient itself.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.layers.batchnorm import batch_norm_manual
from snippets.support.report import FAST, Report
from snippets.support.rules import All, Below

report = Report("bn_backward")
g = torch.Generator().manual_seed(0)

# %% [markdown]
# `report` collects what the site shows from this run. The generator `g`
# draws every random tensor below, so each run sees the same numbers.
#
# ## Finite differences
#
# `gradcheck` perturbs every input element by a small step and compares the
# change in output with the analytic gradient (in float64).
# It needs no knowledge of batch normalization: it only asks whether the
# backward pass agrees with small changes of the forward pass. The loop
# tries one shape for each rank that the BatchNorm layers accept, from
# `(N, C)` to `(N, C, D, H, W)`, with a random weight `w` and bias `b`
# (one entry per channel). The tensors are float64, so that rounding stays
# far below the effect of the small step.
#
# Look at the end of each printed line: every shape should report
# `True`. One formula then covers every input rank, because all ranks
# reduce over every dimension except the channel dimension.

# %%
# --8<-- [start:gradcheck]
shapes = [(6, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 3, 3)]
for shape in shapes:
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 1
    w = torch.randn(3, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in (x, w, b)]
    ok = torch.autograd.gradcheck(batch_norm_manual, inputs)
    print(shape, "gradcheck:", ok)
# --8<-- [end:gradcheck]

# %% [markdown]
# ## Against autograd through nn.BatchNorm2d
#
# The second check compares with the gradient that PyTorch itself
# computes. The input is a batch of feature maps of shape `size`, in
# float64; the fast build uses a smaller `size`. The layer's weight and
# bias are set to random values, so that the check does not depend on
# the default weight 1 and bias 0.
#
# Both paths get the same input `x` and the same upstream gradient
# `grad_out`. The hand-written path (`x1`, `w`, `b`) and the layer
# (`x2`, `bn`) each call `backward` once. The printed dictionary holds the
# largest absolute difference between the two, for the input, the weight
# and the bias gradient. Expect differences at the level of float64
# rounding. A difference near the size of a gradient would mean a missing
# term in the closed form.

# %%
# --8<-- [start:autograd]
size = (8, 16, 7, 7) if FAST else (32, 16, 14, 14)
x = torch.randn(size, generator=g, dtype=torch.float64) * 3 + 1
grad_out = torch.randn(size, generator=g, dtype=torch.float64)
bn = nn.BatchNorm2d(16, dtype=torch.float64)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5, generator=g)
    bn.bias.uniform_(-1, 1, generator=g)
w = bn.weight.detach().clone().requires_grad_()
b = bn.bias.detach().clone().requires_grad_()
x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
batch_norm_manual(x1, w, b).backward(grad_out)
bn(x2).backward(grad_out)
differences = {
    "input": (x1.grad - x2.grad).abs().max().item(),
    "weight": (w.grad - bn.weight.grad).abs().max().item(),
    "bias": (b.grad - bn.bias.grad).abs().max().item(),
}
print(differences)
# --8<-- [end:autograd]

# %% [markdown]
# This cell makes the table of the site's page from the same three
# differences, each rounded to two digits. The claims at the end check
# that each is below a small bound.

# %%
report.table("agreement", ["Gradient", "Largest difference"], [
    [name, f"{value:.1e}"] for name, value in differences.items()])

# %% [markdown]
# ## What the gradient cannot do
#
# Per channel, with g the gradient with respect to x_hat and
# s = 1 / sqrt(var + eps), the closed form gives two sums: the input
# gradient sums to zero, and its dot product with x_hat is
# s * eps / (var + eps) * sum(g * x_hat), which would be zero if eps were
# 0. So the input gradient has no component that shifts a channel's mean,
# and almost none that rescales it: the loss does not depend on a shift
# of a channel's mean, and depends on its scale only through eps. The
# code measures both sums against the size of the terms they add up.
#
# Why this matters: a change that only shifts a channel's mean before
# the layer is removed again by the normalization, so the loss cannot
# depend on it, and the gradient shows this. The bias of a layer just
# before batch normalization is such a shift. Its gradient is the sum of
# the input gradient over the channel, so it is zero (the example
# `bn_redundant_bias` shows this).
#
# The code first computes again, from `x`, what the forward pass used:
# the biased variance `var` over the dimensions `dims` (all but the
# channel), `s_inv` (the s above) and `x_hat`. `g_hat` is g, the upstream
# gradient times the weight. Then, for each channel:
#
# - `terms` is the sum of the absolute values of the input gradient. It
#   gives the scale against which the other sums are small or large.
# - `sums` is the absolute value of the sum of the input gradient.
# - `dots` is the dot product of the input gradient with `x_hat`, and
#   `predicted` is the eps formula for it.
#
# The first printed line is the largest ratio of `sums` to `terms`: it
# should be at the level of float64 rounding. The second line gives the
# largest relative mismatch between `dots` and `predicted`, which should
# also be small, and the largest value of eps / (var + eps), which says
# how small eps is next to the channel variances of this input.

# %%
dims = (0, 2, 3)
var = x.var(dims, correction=0, keepdim=True)
s_inv = 1 / torch.sqrt(var + 1e-5)
x_hat = (x - x.mean(dims, keepdim=True)) * s_inv
g_hat = grad_out * w.detach().view(1, -1, 1, 1)  # gradient w.r.t. x_hat
terms = x1.grad.abs().sum(dims)                  # sum of |dL/dx| per channel
sums = x1.grad.sum(dims).abs()
dots = (x1.grad * x_hat).sum(dims)
predicted = (s_inv * 1e-5 / (var + 1e-5)).flatten() * (g_hat * x_hat).sum(dims)
mismatch = ((dots - predicted).abs() / predicted.abs()).max().item()
eps_share = (1e-5 / (var + 1e-5)).max().item()
print(f"largest |sum of dx| / sum of |dx|: {(sums / terms).max():.1e}")
print(f"dx . x_hat against its eps term: largest relative mismatch "
      f"{mismatch:.1e}; eps / (var + eps) at most {eps_share:.1e}")

# %% [markdown]
# The figure shows the four sums for every channel, on a log scale. Read
# it from top to bottom:
#
# - The grey circles are `terms`, the scale of the gradient.
# - The blue squares (the measured dot product) and the red crosses (the
#   eps formula) should lie on top of each other. A large gap between
#   grey and blue means that little of the gradient would rescale the
#   channel.
# - The green triangles are `sums`. They should lie lowest, at the level
#   of rounding. `clamp_min` only keeps an exact zero drawable on the log
#   scale.
#
# If a blue square and a red cross did not overlap, the eps term would
# not explain the dot product, and the derivation would be wrong.

# %%
fig, ax = plt.subplots(figsize=(7.2, 3.4))
channels = torch.arange(1, x.size(1) + 1)
ax.plot(channels, terms, "o", color="0.5", label="sum of |dL/dx| (scale)")
ax.plot(channels, dots.abs(), "s", color="C0",
        label="|sum of x_hat * dL/dx|")
ax.plot(channels, predicted.abs(), "x", color="C3",
        label="s eps / (var + eps) |sum of g x_hat|")
ax.plot(channels, sums.clamp_min(1e-18), "^", color="C2",
        label="|sum of dL/dx|")
ax.set_yscale("log")
ax.set_xlabel("channel")
ax.set_ylabel("per-channel sum")
fig.legend(fontsize=7, loc="outside lower center", ncols=2)
ax.set_title("Input gradient, per channel: no mean component, and an "
             "x_hat component set by eps", fontsize=10)
report.figure(fig, "gradient")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.

# %%
worst = max(differences.values())
sum_ratio = (sums / terms).max().item()
report.values(
    shape=" x ".join(str(s) for s in size), sum_ratio=f"{sum_ratio:.1e}",
    dot_mismatch=f"{mismatch:.1e}", eps_share=f"{eps_share:.1e}",
    gradchecks=len(shapes),
)
report.claim("manual_matches_autograd", All([
    Below(f"largest difference from autograd, {name} gradient", value, 1e-10)
    for name, value in differences.items()]))
report.claim("input_gradient_sums_to_zero", Below(
    "largest |sum of dL/dx| / sum of |dL/dx|, per channel", sum_ratio,
    1e-12))
report.claim("orthogonality_is_the_eps_term", Below(
    "largest relative mismatch of sum(x_hat * dL/dx) and its eps term",
    mismatch, 1e-6))
