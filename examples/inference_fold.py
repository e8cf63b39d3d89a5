# %% [markdown]
# # Folding BatchNorm into the convolution before it
#
# In evaluation mode, with running statistics, BatchNorm2d is a fixed
# per-channel affine map, so it can be merged into the preceding
# convolution's weights and bias: one layer instead of two, the same
# outputs up to rounding. A from-scratch fold, checked against
# `torch.nn.utils.fusion.fuse_conv_bn_eval` and timed on a small CNN.

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from snippets.experiments.models import small_cnn
from snippets.layers.inference import fold_conv_bn, fold_model
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import All, Below
from snippets.support.training import train

torch.manual_seed(0)
report = Report("inference_fold")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, _ = data.load("fashion_mnist", train=False)
model = small_cnn()
train(model, x_train, y_train, epochs=1, batch_size=128,
      optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
      max_steps=20 if FAST else 100)  # non-trivial running statistics
model.eval()

# %%
# --8<-- [start:compare]
conv, bn = model[0], model[1]
ours = fold_conv_bn(conv, bn)
theirs = fuse_conv_bn_eval(conv, bn)
x = x_test[:256]
with torch.no_grad():
    reference = bn(conv(x))
    diff_ours = (ours(x) - reference).abs().max().item()
    diff_theirs = (theirs(x) - reference).abs().max().item()
    diff_weights = (ours.weight - theirs.weight).abs().max().item()
# --8<-- [end:compare]
print(diff_ours, diff_theirs, diff_weights)

# %% [markdown]
# ## The whole network, timed
#
# Forward passes of the unfolded and the folded network, alternating so
# both see the same machine conditions; for each batch size, the median of
# the per-pair time ratios and its interquartile range.

# %%
# --8<-- [start:timing]
folded = fold_model(model)
with torch.no_grad():
    end_to_end = (folded(x) - model(x)).abs().max().item()
    scale_out = model(x).abs().max().item()


def time_ms(net, batch):
    start = time.perf_counter()
    net(batch)
    return 1000 * (time.perf_counter() - start)


speedups = {}
with torch.no_grad():
    for batch_size, repeats in [(1, 300), (16, 100), (256, 40)]:
        batch = x_test[:batch_size]
        ratios = []
        for i in range((5 if FAST else repeats) + 3):  # 3 warm-ups
            ratio = time_ms(model, batch) / time_ms(folded, batch)
            if i >= 3:
                ratios.append(ratio)
        q1, median, q3 = statistics.quantiles(ratios, n=4)
        speedups[batch_size] = (median, q1, q3)
# --8<-- [end:timing]
for b, (m, lo, hi) in speedups.items():
    print(f"batch {b:>3}: speed-up {m:.2f}x (middle half {lo:.2f}-{hi:.2f})")

# %%
fig, ax = plt.subplots(figsize=(7.2, 2.8))
sizes = list(speedups)
medians = [speedups[b][0] for b in sizes]
errors = [[speedups[b][0] - speedups[b][1] for b in sizes],
          [speedups[b][2] - speedups[b][0] for b in sizes]]
ax.errorbar([str(b) for b in sizes], medians, yerr=errors, fmt="o",
            capsize=4)
ax.axhline(1.0, color="k", lw=0.8, ls=":")
ax.set_xlabel("batch size")
ax.set_ylabel("speed-up from folding\n(unfolded time / folded time)")
ax.set_title("Small CNN, CPU inference: median and middle half of "
             "paired ratios", fontsize=10)
report.figure(fig, "timing_fold")

report.table("timing_fold", ["Batch size", "Speed-up (median)",
                             "Middle half of the ratios"],
             [[b, f"{m:.2f}x", f"{lo:.2f}x to {hi:.2f}x"]
              for b, (m, lo, hi) in speedups.items()])
scale = reference.abs().max().item()
diff_both = max(diff_ours, diff_theirs)
report.values(diff_both=f"{diff_both:.1e}", scale=f"{scale:.1f}",
              diff_weights=f"{diff_weights:.1e}",
              end_to_end=f"{end_to_end:.1e}",
              threads=torch.get_num_threads(),
              layers_before=len(model), layers_after=len(folded))
# Float32 rounding: a relative difference of a few parts in a million,
# each difference divided by the largest value it is a difference of.
report.claim("fold_matches_unfolded", All([
    Below("largest difference from the unfolded layers / largest output, "
          "fold_conv_bn", diff_ours / scale, 1e-5),
    Below("the same, fuse_conv_bn_eval", diff_theirs / scale, 1e-5)]))
report.claim("fold_weights_agree", Below(
    "largest difference of the two folded weights / largest weight",
    diff_weights / theirs.weight.abs().max().item(), 1e-5))
report.claim("fold_end_to_end", Below(
    "largest difference of the logits / largest logit",
    end_to_end / scale_out, 1e-5))
report.timings(speedup_1=f"{speedups[1][0]:.2f}",
               speedup_16=f"{speedups[16][0]:.2f}",
               speedup_256=f"{speedups[256][0]:.2f}")
