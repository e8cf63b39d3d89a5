# %% [markdown]
# # Why gamma and beta
#
# Normalized inputs sit where a sigmoid is nearly linear. The learned scale
# gamma (`weight`) and shift beta (`bias`) let the network move them back
# out, all the way to undoing the normalization when that is best.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support.report import Report

report = Report("bn_gamma_beta")
g = torch.Generator().manual_seed(0)

# %% [markdown]
# ## A sigmoid and the values it is fed
#
# A feature whose values in the batch sit around 4 with spread 2 (as a
# pre-activation can, once weights have grown) mostly lands where the
# sigmoid is flat: small gradients. After normalization the same feature
# lands around 0, where the sigmoid is close to the straight line
# 1/2 + x/4: the nonlinearity hardly bends it.

# %%
# --8<-- [start:sigmoid]
feature = 4 + 2 * torch.randn(1000, 1, generator=g)   # (N, C) = (1000, 1)
normalized = nn.BatchNorm1d(1, affine=False)(feature)


def slope(x):  # derivative of the sigmoid
    return torch.sigmoid(x) * (1 - torch.sigmoid(x))


def linear_gap(x):  # distance from the tangent line at 0
    return (torch.sigmoid(x) - (0.5 + x / 4)).abs()


for name, x in [("raw", feature), ("normalized", normalized)]:
    print(f"{name:>10}: mean slope {slope(x).mean():.3f}, "
          f"mean gap from the tangent {linear_gap(x).mean():.3f}")
# --8<-- [end:sigmoid]

# %%
grid = torch.linspace(-6, 10, 400)
fig, ax = plt.subplots()
ax.plot(grid, torch.sigmoid(grid), color="k", label="sigmoid(x)")
ax.plot(grid, 0.5 + grid / 4, color="k", ls=":", lw=1,
        label="tangent at 0: 1/2 + x/4")
ax2 = ax.twinx()
bins = torch.linspace(-6, 10, 65)
ax2.hist(feature.flatten(), bins=bins, alpha=0.4, color="C3",
         label="raw feature")
ax2.hist(normalized.detach().flatten(), bins=bins, alpha=0.4, color="C0",
         label="after normalization")
ax2.set_ylabel("samples")
ax2.grid(False)
ax.set_ylim(-0.1, 1.1)
ax.set_xlabel("input to the sigmoid")
ax.set_ylabel("sigmoid output")
lines = ax.get_legend_handles_labels()
bars = ax2.get_legend_handles_labels()
ax.legend(lines[0] + bars[0], lines[1] + bars[1], loc="center right",
          fontsize=8)
report.figure(fig, "sigmoid")

# %% [markdown]
# ## gamma and beta can undo it exactly
#
# Set gamma to the batch's standard deviation sqrt(var + eps) and beta to
# its mean, and the layer returns its input: the identity is always
# within reach, so adding the layer cannot take away what the network
# could represent.

# %%
# --8<-- [start:identity]
x = feature.double()  # float64, so only rounding at 1e-16 remains
bn = nn.BatchNorm1d(1, dtype=torch.float64)
with torch.no_grad():
    bn.weight.copy_(torch.sqrt(x.var(0, correction=0) + bn.eps))
    bn.bias.copy_(x.mean(0))
    restored = bn(x)
print("largest |output - input|:", (restored - x).abs().max().item())
# --8<-- [end:identity]

# %%
values = {}
for name, inputs in [("raw", feature), ("normalized", normalized)]:
    values[f"slope_{name}"] = f"{slope(inputs).mean():.3f}"
    values[f"gap_{name}"] = f"{linear_gap(inputs).mean():.3f}"
report.values(identity_error=f"{(restored - x).abs().max():.1e}",
              **values)
