# %% [markdown]
# # The bias before BatchNorm does nothing
#
# BatchNorm subtracts each channel's batch mean, so a constant added to the
# channel just before it, the bias of the preceding Linear or Conv2d, is
# subtracted again (Ioffe & Szegedy 2015, Section 3.2). Wherever batch
# statistics are used (training mode), that bias changes no output and gets
# no gradient; `bias=False` saves the parameters.
#
# In numbers: if a layer outputs x + b for a channel, the batch mean of
# that channel is mean(x) + b, and x + b - (mean(x) + b) = x - mean(x).
# The variance does not change either, since adding a constant does not
# change the spread. So the layer after the bias sees the same values
# whatever b is. This lesson checks this in a small convolutional
# network, first in training mode and then in evaluation mode, where the
# result is different.

# %%
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import Report
from snippets.support.rules import Above, All, Below

torch.manual_seed(0)
report = Report("bn_redundant_bias")
images, labels = data.load("fashion_mnist", train=False)
# float64: an exact zero then shows as rounding far below float32's.
x, y = images[:128].double(), labels[:128]

# %% [markdown]
# `x` and `y` are the first Fashion-MNIST test images and their labels.
# They are float64 so that rounding errors stay tiny: a quantity that is
# zero in exact arithmetic then shows as a number close to float64
# rounding, clearly apart from quantities that are not zero. The seed
# fixes the initial weights of the network below.
#
# ## The bias's gradient, and what the bias does to the output
#
# The network is a `Conv2d` followed directly by a `BatchNorm2d`, then a
# ReLU and a `Linear` layer that gives one score per class. `conv` is its
# first layer. The code computes a cross-entropy loss on the batch and its
# gradients, in training mode.
#
# Look at the first two printed lines. The gradient of `conv.bias` should
# be at the level of float64 rounding, while the gradient of
# `conv.weight`, computed through the same layers, should be clearly
# larger. The bias's gradient is the sum of the gradient at the
# BatchNorm's input over a channel, and in training mode that sum is zero
# (see the lesson `bn_backward`).
#
# Then the code adds a constant to every entry of `conv.bias` and runs the
# network again. The third printed line is the largest change of any
# output: it should also be at the level of rounding, because BatchNorm
# subtracts the shifted mean again.

# %%
# --8<-- [start:bias]
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
    nn.Flatten(), nn.Linear(8 * 26 * 26, 10)).double()
conv = model[0]
loss = nn.functional.cross_entropy(model(x), y)
loss.backward()
print("largest |d loss / d conv.bias|:", conv.bias.grad.abs().max().item())
print("largest |d loss / d conv.weight|:", conv.weight.grad.abs().max().item())

with torch.no_grad():
    before = model(x)
    conv.bias += 5.0  # shift every channel by 5 before BN
    after = model(x)
print("largest output change:", (after - before).abs().max().item())
# --8<-- [end:bias]

# %% [markdown]
# In evaluation mode the bias is not cancelled by a batch mean. It is
# absorbed into `running_mean`, which follows it only through its moving
# average. Here one training-mode call, the one that computed `after`,
# has seen the shifted bias. With the default momentum 0.1, `running_mean`
# took in a tenth of the shift. A model with `bias=False` and a shifted
# `running_mean` computes the same function, but editing the bias after
# training changes the eval outputs.
#
# The code switches the model to evaluation mode with `model.eval()`.
# Now BatchNorm subtracts the stored `running_mean` instead of the batch
# mean. Then it removes the shift from `conv.bias` again. The printed
# change of the outputs should now be clearly larger than rounding. So
# after training, the bias and `running_mean` belong together: change one,
# and the eval outputs change.

# %%
# --8<-- [start:eval]
model.eval()
with torch.no_grad():
    eval_before = model(x)
    conv.bias -= 5.0
    eval_after = model(x)
print("eval mode, output change:",
      (eval_after - eval_before).abs().max().item())
# --8<-- [end:eval]

# %% [markdown]
# ## What bias=False saves
#
# A layer followed by BatchNorm can be built without its bias. The code
# builds the same convolution twice, with and without a bias, and counts
# the parameters of each. The bias has one entry per output channel.
#
# The printed line gives the number of parameters of the layer with a
# bias, and how many of them `bias=False` removes. The saving is small
# next to the weights (one number per output channel, against a whole
# filter per output channel), but these parameters do nothing in training
# mode.
# The BatchNorm after the layer has its own shift, beta (`bias`), which
# does the work that a bias would do.

# %%
# --8<-- [start:count]
with_bias = nn.Conv2d(64, 128, 3)
without_bias = nn.Conv2d(64, 128, 3, bias=False)
count = sum(p.numel() for p in with_bias.parameters())
saved = count - sum(p.numel() for p in without_bias.parameters())
print(f"Conv2d(64, 128, 3): {count} parameters, bias=False saves {saved}")
# --8<-- [end:count]

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.

# %%
bias_grad = conv.bias.grad.abs().max().item()
weight_grad = conv.weight.grad.abs().max().item()
train_change = (after - before).abs().max().item()
eval_change = (eval_after - eval_before).abs().max().item()
report.values(
    bias_grad=f"{bias_grad:.1e}", weight_grad=f"{weight_grad:.1e}",
    train_change=f"{train_change:.1e}", eval_change=f"{eval_change:.2f}",
    conv_params=count, saved=saved, images=len(x),
)
# Rounding, in float64: far below 1e-10, while the weight gradient (the
# same computation, not cancelled) is well above it.
report.claim("bias_has_no_effect_in_training", All([
    Below("largest |bias gradient|", bias_grad, 1e-10),
    Above("largest |weight gradient|", weight_grad, 1e-10),
    Below("largest output change from adding 5 to every bias",
          train_change, 1e-10)]))
report.claim("bias_edit_changes_eval", Above(
    "largest eval-mode output change from removing the 5 again",
    eval_change, 0.1))
