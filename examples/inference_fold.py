# %% [markdown]
# # Folding BatchNorm into the convolution before it
#
# In evaluation mode, with running statistics, BatchNorm2d is a fixed
# per-channel affine map, so it can be merged into the preceding
# convolution's weights and bias: one layer instead of two, the same
# outputs up to rounding. A from-scratch fold, checked against
# `torch.nn.utils.fusion.fuse_conv_bn_eval` and timed on a small CNN.
#
# Why does this work? In evaluation mode each output channel c of the
# BatchNorm layer computes `gamma_c * (z - mean_c) / sqrt(var_c + eps) +
# beta_c`, where `mean_c` and `var_c` are the running statistics. For a
# fixed layer, this is just "multiply by a number, then add a number". The
# convolution before it is also an affine map of its input, so the two
# steps can be written as one convolution with new weights and a new
# bias. In training mode this is not possible: the statistics change with
# every batch.

# %% [markdown]
# ## A small trained CNN
#
# `small_cnn` has two blocks, each a convolution, a BatchNorm2d layer, a
# ReLU and a max-pool, and then a linear classifier. We train it for a few
# steps only. Accuracy does not matter here. The training is there so that
# the running statistics and the layer's `weight` (gamma) and `bias` (beta)
# are no longer at their initial values (mean 0, variance 1, gamma 1,
# beta 0); a fold of a fresh layer would be too easy a test. At the end,
# `model.eval()` switches every BatchNorm layer to its running statistics.
# This is required: `fold_conv_bn` refuses a BatchNorm layer in training
# mode.

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

# %% [markdown]
# ## One block, folded two ways
#
# `model[0]` is the first convolution and `model[1]` the BatchNorm layer
# after it. `fold_conv_bn` is this project's fold; `fuse_conv_bn_eval` is
# PyTorch's. Both return a single convolution. The reference is the
# original pair of layers, `bn(conv(x))`, on a batch of test images.
#
# The cell prints three differences and one size. The first two are the
# largest differences between each folded layer and the reference. The
# third is the largest difference between the two folded weights. The last
# number is the largest output of the reference, to judge the first two
# differences against: they should be at the level of float32 rounding
# for outputs of that size. The third difference should be at that level
# for numbers the size of the folded weights, which this cell does not
# print; the claims at the end divide it by the largest folded weight.
# None of the differences need be zero: the folded layer computes the
# same value in a different order. A difference close to the size of the
# outputs would mean a wrong fold.

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
scale = reference.abs().max().item()
print(f"fold_conv_bn vs unfolded:      {diff_ours:.1e}")
print(f"fuse_conv_bn_eval vs unfolded: {diff_theirs:.1e}")
print(f"the two folded weights:        {diff_weights:.1e}")
print(f"largest output of the layers:  {scale:.1f}")

# %% [markdown]
# ## The whole network, timed
#
# Forward passes of the unfolded and the folded network, alternating so
# both see the same machine conditions; for each batch size, the median of
# the per-pair time ratios and its interquartile range.
#
# `fold_model` makes a folded copy of the whole network: every convolution
# that is directly followed by a BatchNorm layer becomes one convolution,
# and the BatchNorm layers disappear. `end_to_end` compares the logits of
# the two networks, and `scale_out` is the largest logit; the claims at
# the end use both.
#
# `time_ms` times one forward pass. For each batch size, the loop runs the
# unfolded and the folded network one after the other, and keeps the
# ratio of the two times: above 1 means the folded network was faster.
# The first few pairs are warm-ups (see the comment in the loop) and are
# thrown away, because first calls can be slower. Fast mode runs only a
# few pairs, so its timings are rough.

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


# %% [markdown]
# The figure shows, for each batch size, the median ratio as a dot and the
# middle half of the ratios as a bar. The dotted line at 1 means "no
# change". Look at where the dots sit relative to that line, and at how
# long the bars are. A long bar means the single timings varied a lot, and
# the median should be read with care. Timings depend on the machine, on
# the number of threads and on what else runs at the same time, so they
# change from run to run.

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

# %% [markdown]
# The table gives the same numbers as the figure. Folding removes one
# layer call and one pass over the activations for each BatchNorm layer,
# while the convolutions do the same work as before. So any gain from
# folding can only be a part of the total time.

# %%
report.table("timing_fold", ["Batch size", "Speed-up (median)",
                             "Middle half of the ratios"],
             [[b, f"{m:.2f}x", f"{lo:.2f}x to {hi:.2f}x"]
              for b, (m, lo, hi) in speedups.items()])

# %% [markdown]
# What to take from this example: once a model is in evaluation mode, its
# BatchNorm layers are fixed affine maps, and each one can be merged into
# the convolution before it. The folded network computes the same outputs
# up to float32 rounding. Fold only for inference: the folded network has
# no BatchNorm layers left to train.

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# The claims divide each difference by the largest value it is a
# difference of, so that they do not depend on the size of the outputs.
# The median speed-ups are recorded as timings, which the build does not
# expect to be the same from run to run.

# %%
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
