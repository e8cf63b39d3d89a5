# %% [markdown]
# # BatchNorm3d running statistics, by hand and by PyTorch
#
# The example of the second source post ("Normalization (BN and LN) in
# NN"): input shape (3, 2, 2, 2, 3), that is 3 samples, 2 channels, and a
# 2 x 2 x 3 volume per channel; `momentum=0.3`;
# the buffers start at mean 0 and variance 1; two mini-batches. (The post
# gives no data, so this one is seeded random numbers.)

# %%
import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import Below

report = Report("inference_batchnorm3d")
g = torch.Generator().manual_seed(0)
batches = [torch.randn(3, 2, 2, 2, 3, generator=g, dtype=torch.float64) * 2
           + 1 for _ in range(2)]

# %%
# --8<-- [start:by_hand]
bn = nn.BatchNorm3d(2, momentum=0.3, dtype=torch.float64)
mean_by_hand = torch.zeros(2, dtype=torch.float64)   # initial buffers
var_by_hand = torch.ones(2, dtype=torch.float64)
rows = []
for step, x in enumerate(batches, 1):
    bn(x)  # training mode: normalize, then update the buffers
    dims = (0, 2, 3, 4)  # all but the channel: 3 * 2 * 2 * 3 = 36 values
    mean_by_hand = 0.7 * mean_by_hand + 0.3 * x.mean(dims)
    var_by_hand = 0.7 * var_by_hand + 0.3 * x.var(dims, correction=1)
    for c in range(2):
        rows.append([step, c, mean_by_hand[c].item(),
                     bn.running_mean[c].item(), var_by_hand[c].item(),
                     bn.running_var[c].item()])
# --8<-- [end:by_hand]

# %%
worst = max(max(abs(r[2] - r[3]), abs(r[4] - r[5])) for r in rows)
print("largest difference:", worst)
report.table("batchnorm3d", [
    "After batch", "Channel", "running_mean by hand", "PyTorch",
    "running_var by hand", "PyTorch"],
    [[s, c, f"{a:.6f}", f"{b:.6f}", f"{v:.6f}", f"{w:.6f}"]
     for s, c, a, b, v, w in rows])
report.values(worst=f"{worst:.1e}",
              values_per_channel=batches[0][:, 0].numel())
report.claim("batchnorm3d_hand_matches_torch", Below(
    "largest |by hand - PyTorch|", worst, 1e-12))
