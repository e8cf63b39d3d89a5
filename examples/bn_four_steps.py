# %% [markdown]
# # The four steps, on a real mini-batch
#
# Batch normalization in training mode is four steps per feature
# (Ioffe & Szegedy 2015, Algorithm 1): the mini-batch mean, the (biased)
# mini-batch variance, normalizing with eps, then scaling by gamma and
# shifting by beta. Here they are, one line each,
# on 64 Fashion-MNIST images with each of the 784 pixels as one feature,
# checked against nn.BatchNorm1d; and what eps is for, on the pixels that
# are constant in this batch.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import Report
from snippets.support.rules import Above, Below

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

# %% [markdown]
# After step 3 every non-constant pixel has mean 0 and (biased) variance
# var / (var + eps): about 1 when var is much larger than eps, much less
# when var is near or below eps. Step 4 then gives mean beta and a standard
# deviation of gamma times the square root of that. Three pixels, before
# and after step 3:

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
# this batch (they lie near the image's edges) has variance exactly 0.
# Dividing its deviation (also 0) by sqrt(0 + eps) gives 0; without eps it
# is 0 / 0. PyTorch does not let you try: a layer that normalizes with batch
# statistics refuses eps <= 0 when it is called.

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
print("nn.BatchNorm1d(784, eps=0.0)(pixels):", refusal)
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
# Where the constant pixels are: distance to the nearest edge of the image.
where = constant.nonzero().flatten()
rows, cols = where // 28, where % 28
to_edge = torch.minimum(torch.minimum(rows, cols),
                        torch.minimum(27 - rows, 27 - cols))
varying = ~constant
x_hat_var = x_hat[:, varying].var(dim=0, correction=0)
largest_mean = x_hat[:, varying].mean(dim=0).abs().max().item()
# The most squashed pixel: how many images is it nonzero in?
squashed = varying.nonzero().flatten()[x_hat_var.argmin()]
squashed_images = int((pixels[:, squashed] > 0).sum())
near_one = int((x_hat_var > 0.99).sum())
print("most squashed pixel:", int(squashed), "variance",
      f"{var[squashed]:.1e}, nonzero in {squashed_images} images")
print(f"{near_one} of {int(varying.sum())} varying pixels have a normalized "
      "variance above 0.99")
report.values(
    max_difference=f"{difference:.1e}",
    constant_pixels=int(constant.sum()), edge_distance=int(to_edge.max()),
    largest_mean=f"{largest_mean:.1e}",
    variance_low=f"{x_hat_var.min():.6f}",
    variance_high=f"{x_hat_var.max():.6f}",
    squashed_var=f"{var[squashed]:.1e}", squashed_images=squashed_images,
    eps_ratio=f"{eps / var[squashed]:.0f}",
    near_one=near_one, varying=int(varying.sum()),
    images=pixels.shape[0], features=pixels.shape[1],
)
# Float32 rounding: within torch.testing's float32 tolerance, element by
# element (atol 1e-5, rtol 1.3e-6).
used = ((out - y).abs() / (1e-5 + 1.3e-6 * y.abs())).max().item()
report.claim("four_steps_match_torch", Below(
    "largest share of the float32 tolerance (atol 1e-5, rtol 1.3e-6) used "
    "by a difference from nn.BatchNorm1d", used, 1))
report.claim("normalized_mean_zero", Below(
    "largest |mean| of a normalized pixel", largest_mean, 1e-5))
# "Most" is read strictly: more than 90% of the non-constant pixels.
report.claim("most_pixels_unit_variance", Above(
    "share of the non-constant pixels with a normalized variance above 0.99",
    near_one / int(varying.sum()), 0.9))
report.claim("squashed_pixel_below_eps", Below(
    "variance of the most squashed pixel", var[squashed].item(), eps))
