# %% [markdown]
# # The four steps, on a real mini-batch
#
# Batch normalization in training mode is four steps per feature: the
# mini-batch mean, the (biased) mini-batch variance, normalizing with eps,
# then scaling by gamma and shifting by beta. Here they are, one line each,
# on 64 Fashion-MNIST images with each of the 784 pixels as one feature,
# checked against nn.BatchNorm1d; and what eps is for, on the pixels that
# are constant in this batch.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import Report

report = Report("bn_four_steps")

x_all, _ = data.load("fashion_mnist", train=False)
pixels = x_all[:64].flatten(1)          # (N, C) = (64, 784): the first 64

# %% [markdown]
# ## The four steps

# %%
# --8<-- [start:steps]
eps = 1e-5
gamma, beta = torch.full((784,), 2.0), torch.full((784,), 0.5)
mean = pixels.mean(dim=0)                        # 1. per-feature mean
var = pixels.var(dim=0, correction=0)            # 2. biased variance
x_hat = (pixels - mean) / torch.sqrt(var + eps)  # 3. normalize
y = gamma * x_hat + beta                         # 4. scale and shift
# --8<-- [end:steps]

# %%
# --8<-- [start:check]
bn = nn.BatchNorm1d(784, eps=eps)
with torch.no_grad():
    bn.weight.fill_(2.0)
    bn.bias.fill_(0.5)
    out = bn(pixels)
difference = (out - y).abs().max().item()
print(f"largest difference from nn.BatchNorm1d: {difference:.1e}")
# --8<-- [end:check]
torch.testing.assert_close(out, y)  # within float32's default tolerance

# %% [markdown]
# After step 3 every non-constant pixel has mean 0 and (biased) variance
# 1, up to eps; after step 4 it has mean beta and standard deviation gamma.
# Three pixels, before and after:

# %%
chosen = {"centre (14, 14)": 14 * 28 + 14, "left edge (14, 1)": 14 * 28 + 1,
          "corner area (24, 24)": 24 * 28 + 24}
fig, (before, after) = plt.subplots(1, 2, figsize=(7.2, 3.0))
bins_before = torch.linspace(0, 1, 21)
bins_after = torch.linspace(-2, 6, 33)
for label, j in chosen.items():
    before.hist(pixels[:, j], bins=bins_before, alpha=0.5, label=label)
    after.hist(x_hat[:, j], bins=bins_after, alpha=0.5, label=label)
before.set_title("pixel values (64 images)", fontsize=10)
after.set_title("after step 3", fontsize=10)
before.set_xlabel("intensity")
after.set_xlabel("normalized value")
before.set_ylabel("images")
before.legend(fontsize=7)
report.figure(fig, "before_after")

# %% [markdown]
# ## Why eps
#
# Normalize the raw pixels themselves: a pixel that is 0 in every image of
# this batch (the image borders) has variance exactly 0. Dividing its
# deviation (also 0) by sqrt(0 + eps) gives 0; without eps it is 0 / 0.
# PyTorch does not let you try: eps must be positive in training.

# %%
# --8<-- [start:eps]
constant = pixels.var(dim=0, correction=0) == 0   # pixels 0 in all 64
p_mean, p_var = pixels.mean(dim=0), pixels.var(dim=0, correction=0)
with_eps = (pixels - p_mean) / torch.sqrt(p_var + 1e-5)
without_eps = (pixels - p_mean) / torch.sqrt(p_var)  # 0 / 0 = NaN
try:
    nn.BatchNorm1d(784, eps=0.0)(pixels)
except ValueError as error:
    refusal = str(error)
print("constant pixels in this batch:", int(constant.sum()))
print("with eps=1e-5, outputs:", with_eps[:, constant].unique().tolist())
print("with eps=0, all NaN:", bool(without_eps[:, constant].isnan().all()))
print("nn.BatchNorm1d(784, eps=0.0):", refusal)
# --8<-- [end:eps]

# %%
torch_output = nn.BatchNorm1d(784)(pixels).detach()
assert torch.allclose(torch_output, with_eps, atol=1e-5)
nan_count = int(without_eps.isnan().any(dim=0).sum())
report.table("eps", ["eps", "Output of a constant pixel",
                     "Pixels with NaN output"], [
    ["1e-5", f"{with_eps[:, constant].unique().item():g}",
     f"{int(with_eps.isnan().any(dim=0).sum())}"],
    ["0 (by hand)", "nan" if without_eps[:, constant].isnan().all() else "?",
     f"{nan_count}"],
])
varying = ~constant
stats = (x_hat[:, varying].mean(dim=0).abs().max(),
         x_hat[:, varying].var(dim=0, correction=0))
# The most squashed pixel: how many images is it nonzero in?
squashed = varying.nonzero().flatten()[stats[1].argmin()]
squashed_images = int((pixels[:, squashed] > 0).sum())
print("most squashed pixel:", int(squashed), "variance",
      f"{var[squashed]:.1e}, nonzero in {squashed_images} images")
report.values(
    max_difference=f"{difference:.1e}",
    constant_pixels=int(constant.sum()),
    refusal=refusal,
    largest_mean=f"{stats[0]:.1e}",
    variance_low=f"{stats[1].min():.6f}",
    variance_high=f"{stats[1].max():.6f}",
    squashed_var=f"{var[squashed]:.1e}", squashed_images=squashed_images,
)
