# %% [markdown]
# # The backward pass, derived and checked
#
# The gradient of batch normalization with respect to its input, weight
# and bias in closed form (`batch_norm_manual` in
# `snippets/layers/batchnorm.py`), checked against finite differences with
# `torch.autograd.gradcheck` and against PyTorch's own autograd through
# `nn.BatchNorm2d`.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.layers.batchnorm import batch_norm_manual
from snippets.support.report import FAST, Report

report = Report("bn_backward")
g = torch.Generator().manual_seed(0)

# %% [markdown]
# ## Finite differences
#
# `gradcheck` perturbs every input element by a small step and compares the
# change in output with the analytic gradient (in float64).

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
# A realistic activation: a batch of 32 feature maps, 16 channels, 14 x 14.

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
# ## What the gradient cannot do
#
# Per channel, the input gradient sums to zero, and it is orthogonal to the
# normalized input x_hat up to a term of relative size eps / var (exactly,
# if eps were 0): a gradient step through BN barely shifts a channel's mean
# or scales its spread, because the forward pass would normalize that away.

# %%
dims = (0, 2, 3)
x_hat = (x - x.mean(dims, keepdim=True)) / torch.sqrt(
    x.var(dims, correction=0, keepdim=True) + 1e-5)
sums = x1.grad.sum(dims).abs().max().item()
dots = (x1.grad * x_hat).sum(dims).abs().max().item()
scale = (x1.grad.abs() * x_hat.abs()).sum(dims).max().item()
print(f"largest |sum of dx| per channel: {sums:.1e} (of {scale:.1f})")
print(f"largest |dx . x_hat| per channel: {dots:.1e} (of {scale:.1f})")

fig, ax = plt.subplots(figsize=(7.2, 3.0))
channel = 0
ax.scatter(x_hat[:, channel].flatten(), x1.grad[:, channel].flatten(),
           s=4, alpha=0.5)
ax.axhline(0, color="k", lw=0.8)
ax.set_xlabel("normalized input x_hat (channel 1)")
ax.set_ylabel("dL/dx")
ax.set_title("Input gradient of one channel: zero mean, uncorrelated "
             "with x_hat", fontsize=10)
report.figure(fig, "gradient")

# %%
report.table("agreement", ["Gradient", "Largest difference"], [
    [name, f"{value:.1e}"] for name, value in differences.items()])
report.values(
    shape=" x ".join(str(s) for s in size),
    worst=f"{max(differences.values()):.1e}",
    sum_dx=f"{sums:.1e}", dot_dx=f"{dots:.1e}", dot_scale=f"{scale:.0f}",
    gradchecks=len(shapes),
)
