# %% [markdown]
# # The four steps, on a real mini-batch
#
# Batch normalization in training mode is four steps per feature
# (Ioffe & Szegedy 2015, Algorithm 1): the mini-batch mean, the (biased)
# mini-batch variance, normalizing with eps, then scaling by gamma and
# shifting by beta. Here they are, one line each, on a mini-batch of
# Fashion-MNIST images with each pixel as one feature, checked against
# `nn.BatchNorm1d`; and what eps is for, on the pixels that are constant
# in this batch.

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
# `data.load` returns the test images with intensities between 0 and 1.
# `pixels` takes the first images and flattens each 28 x 28 image into one
# row of 784 values. So `pixels` has the shape `(N, C)` that
# `nn.BatchNorm1d` expects: one row per image (sample), one column per
# pixel (feature). Each pixel gets its own mean and variance, computed
# over the images of the batch.
#
# ## The four steps
#
# Each line below is one step of the algorithm, applied to all pixels at
# once. `dim=0` is the batch dimension: the mean and the variance are
# taken over the images, one value per pixel. `correction=0` divides by
# N, which gives the biased variance that training mode uses. gamma and
# beta are set to constants other than the defaults (1 and 0), so that
# step 4 has a visible effect. In a network they would be learned.

# %%
# --8<-- [start:steps]
eps = 1e-5
gamma, beta = torch.full((784,), 2.0), torch.full((784,), 0.5)
mean = pixels.mean(dim=0)                        # 1. per-feature mean
var = pixels.var(dim=0, correction=0)            # 2. biased variance
x_hat = (pixels - mean) / torch.sqrt(var + eps)  # 3. normalize
y = gamma * x_hat + beta                         # 4. scale and shift
# --8<-- [end:steps]

# %% [markdown]
# ## The same result from nn.BatchNorm1d
#
# Now the layer. It gets the same eps, and its `weight` (gamma) and `bias`
# (beta) are filled with the same constants as above. `out` is its output
# for the same batch, and `difference` is the largest absolute difference
# from `y`.
#
# Look at the printed difference. Both sides compute in float32, with
# different code, so their results need not be exactly equal. A difference
# at the level of float32 rounding means that the four lines above are what
# the layer computes. A clearly larger difference would mean a wrong step.
# The claims at the end check the difference against the float32 tolerance
# of `torch.testing`.

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
# deviation of gamma times the square root of that.
#
# The figure shows three pixels, before and after step 3. The pixels in
# `chosen` lie at different places in the image: near the
# centre, near the left edge and towards a corner. On the left, compare
# where their raw intensities lie: each pixel has its own range. On the
# right, after step 3, each histogram should be centred at 0 with a spread
# near 1, whatever the raw range was. This is what makes the inputs of
# the next layer comparable from feature to feature.
#
# Also compare the shape of each histogram before and after. Step 3 only
# shifts and rescales the values, so the shape stays the same. A pixel
# that is 0 in most images stays a tall bar with a tail: normalization
# does not make a distribution Gaussian.

# %%
chosen = {"centre (14, 14)": 14 * 28 + 14, "left edge (14, 1)": 14 * 28 + 1,
          "corner area (24, 24)": 24 * 28 + 24}
fig, (before, after) = plt.subplots(1, 2, figsize=(7.2, 3.0))
bins_before = torch.linspace(0, 1, 21)
bins_after = torch.linspace(-2, 6, 33)
for label, j in chosen.items():
    before.hist(pixels[:, j], bins=bins_before, alpha=0.5, label=label)
    after.hist(x_hat[:, j], bins=bins_after, alpha=0.5, label=label)
before.set_title(f"pixel values ({pixels.shape[0]} images)", fontsize=10)
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
# this batch has variance exactly 0. Dividing its deviation (also 0) by
# sqrt(0 + eps) gives 0; without eps it is 0 / 0. PyTorch does not let
# you try: the code calls a layer built with `eps=0.0` on this batch, and
# the call raises a `ValueError`.
#
# The code finds the constant pixels (`constant`: variance exactly 0) and
# normalizes by hand twice: `with_eps` adds eps = 1e-5 (PyTorch's
# default) to the variance, `without_eps` does not. Read the four printed
# lines in order:
#
# 1. how many pixels are constant in this batch;
# 2. every distinct output of these pixels with eps: only 0 is expected;
# 3. whether all their outputs without eps are NaN ("not a number", the
#    result of 0 / 0);
# 4. the message of the error that PyTorch raises for `eps=0.0`.
#
# A NaN is a problem in a network: most operations on a NaN give NaN
# again, so it can reach the loss and the gradients.

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

# %% [markdown]
# The table repeats these results as the site's page shows them. First, an
# `assert` confirms that a layer with its default settings (eps 1e-5,
# gamma 1, beta 0) gives `with_eps`, within a small tolerance; the example
# stops here if it does not. The table then counts the pixels whose output
# holds a NaN, with and without eps. Compare the last column with the
# number of constant pixels printed above: without eps, each constant
# pixel gives 0 / 0, so the two numbers should agree.

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

# %% [markdown]
# ## When the variance is near eps
#
# eps also changes pixels that are not constant. After step 3, a pixel's
# variance is var / (var + eps). This is close to 1 when var is much
# larger than eps, and below 1/2 when var is below eps. Then the pixel's
# normalized values are squashed towards 0 instead of being scaled to unit
# variance.
#
# The code takes the pixels that vary in this batch (`varying`) and
# computes the variance of each after step 3 (`x_hat_var`). `squashed` is
# the pixel with the smallest normalized variance, and `squashed_images`
# counts the images in which it is not 0. `near_one` counts the varying
# pixels whose normalized variance is above 0.99.
#
# Read the first printed line: compare the raw variance of the most
# squashed pixel with eps = 1e-5, and see in how many images it is
# nonzero. A pixel that is nonzero in only one or a few images, and faint
# there, has a tiny variance. The second line says how many of the varying
# pixels are hardly touched by eps.

# %%
varying = ~constant
x_hat_var = x_hat[:, varying].var(dim=0, correction=0)
# The most squashed pixel: how many images is it nonzero in?
squashed = varying.nonzero().flatten()[x_hat_var.argmin()]
squashed_images = int((pixels[:, squashed] > 0).sum())
near_one = int((x_hat_var > 0.99).sum())
print("most squashed pixel:", int(squashed), "variance",
      f"{var[squashed]:.1e}, nonzero in {squashed_images} images")
print(f"{near_one} of {int(varying.sum())} varying pixels have a normalized "
      "variance above 0.99")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section. It also
# measures two things that only the site's text uses: how far the
# constant pixels lie from the edge of the image (`to_edge`), and the
# largest mean of a normalized pixel (`largest_mean`), which should be 0
# up to float32 rounding.

# %%
# Where the constant pixels are: distance to the nearest edge of the image.
where = constant.nonzero().flatten()
rows, cols = where // 28, where % 28
to_edge = torch.minimum(torch.minimum(rows, cols),
                        torch.minimum(27 - rows, 27 - cols))
largest_mean = x_hat[:, varying].mean(dim=0).abs().max().item()
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
