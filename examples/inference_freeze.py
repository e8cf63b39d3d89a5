# %% [markdown]
# # Fine-tuning: requires_grad=False does not freeze BatchNorm
#
# Freezing a pretrained network's parameters (`requires_grad_(False)`)
# stops their gradients, so the optimizer leaves them alone; but not the
# running statistics: they are buffers, updated by every forward pass in
# training mode. This example fine-tunes a new head on data that looks
# different, once with the parameters frozen only, once with the BatchNorm
# layers also kept in eval mode, and tests the original task afterwards.
#
# A BatchNorm layer has two kinds of state. Its parameters, `weight`
# (gamma) and `bias` (beta), are learned by gradient descent. Its buffers,
# `running_mean` and `running_var`, are not learned at all: the forward
# pass itself updates them whenever the layer is in training mode. So
# turning off gradients reaches only the first kind.

# %% [markdown]
# ## A pretrained network
#
# The "pretrained" network is a small MLP trained briefly on Fashion-MNIST.
# Each hidden layer is Linear, then BatchNorm1d, then ReLU, and the last
# layer is the classifier (the head). `before` is its test accuracy on the
# original task; it is the number to compare against at the end.

# %%
import copy

import torch
from torch import nn

from snippets.experiments.models import mlp
from snippets.layers.inference import freeze_batchnorm_statistics
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import Above, All, Equal, Greater
from snippets.support.training import accuracy, train

torch.manual_seed(0)
report = Report("inference_freeze")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
pretrained = mlp()
train(pretrained, x_train, y_train, epochs=1, batch_size=128,
      optimizer=torch.optim.Adam(pretrained.parameters(), lr=1e-3),
      max_steps=60 if FAST else None)
before = accuracy(pretrained, x_test, y_test)

# %% [markdown]
# ## Fine-tuning, two ways
#
# "New" data for fine-tuning: the same images with inverted intensities
# (1 - x), whose pixel statistics differ. Only the last layer, a fresh
# classifier, is trained; everything before it is frozen.
#
# `fine_tune` works on a copy of the pretrained network, so both ways
# start from the same weights and statistics. It turns off the gradients
# of every parameter, puts in a new head (whose parameters do need
# gradients), and gives the optimizer the head's parameters only. With
# `freeze_statistics=True` it also calls `freeze_batchnorm_statistics`,
# which puts every BatchNorm layer in eval mode and keeps it there, even
# when the training loop calls `model.train()`.
#
# `model[2]` is the first BatchNorm layer. `fine_tune` returns how far its
# `running_mean` moved during fine-tuning, as the largest change over its
# features. The cell prints this for both ways. With gradients turned off
# only, look for a value above zero: the buffers moved although no
# parameter before the head did. With the BatchNorm layers frozen, the
# value should be exactly zero.

# %%
# --8<-- [start:finetune]
def fine_tune(freeze_statistics):
    model = copy.deepcopy(pretrained)
    model.requires_grad_(False)             # freeze every parameter ...
    model[-1] = nn.Linear(64, 10)           # ... except a new head
    model.train()
    if freeze_statistics:
        freeze_batchnorm_statistics(model)  # BN layers back to eval()
    running_before = model[2].running_mean.clone()
    train(model, 1 - x_train, y_train, epochs=1, batch_size=128,
          optimizer=torch.optim.Adam(model[-1].parameters(), lr=1e-3),
          max_steps=20 if FAST else 200)
    moved = (model[2].running_mean - running_before).abs().max().item()
    return model, moved


naive, moved_naive = fine_tune(freeze_statistics=False)
frozen, moved_frozen = fine_tune(freeze_statistics=True)
# --8<-- [end:finetune]
print("running_mean moved by", moved_naive, "vs", moved_frozen)

# %% [markdown]
# ## Back to the original task
#
# Does the feature extractor still work on the original images? Put the
# original head back and test.
#
# If the fine-tuning changed nothing before the head, both networks are
# now the pretrained network again, and both accuracies should equal
# `before`. Compare the three printed numbers. With the BatchNorm layers
# frozen, the accuracy must be exactly `before`, since no weight and no
# buffer before the head could change. With gradients turned off only, the
# weights are the same, but the running statistics have moved towards
# those of the inverted images. In evaluation mode the original images are
# then normalized with the wrong mean and variance, and the accuracy can
# fall.

# %%
for model in (naive, frozen):
    model[-1] = pretrained[-1]
after_naive = accuracy(naive, x_test, y_test)
after_frozen = accuracy(frozen, x_test, y_test)
print(f"original task: before {before:.2%}, after naive fine-tuning "
      f"{after_naive:.2%}, with frozen statistics {after_frozen:.2%}")

# %% [markdown]
# The table puts the two ways side by side: how far the first BatchNorm
# layer's `running_mean` moved, and the accuracy on the original task
# afterwards. Read it row by row. The first row is the common mistake; the
# second row is the fix.

# %%
report.table("freeze", ["Fine-tuning", "running_mean moved by (max)",
                        "Original task accuracy afterwards"], [
    ["requires_grad_(False) only", f"{moved_naive:.3f}", f"{after_naive:.2%}"],
    ["... and BatchNorm layers in eval()", f"{moved_frozen:.3f}",
     f"{after_frozen:.2%}"]])

# %% [markdown]
# What to take from this example: to freeze a BatchNorm layer, turning off
# its gradients is not enough. Keep the layer in evaluation mode as well,
# so that its running statistics stop moving. Because `model.train()` sets
# the mode of every submodule, the BatchNorm layers must be put back in
# evaluation mode after each such call, or kept there by a helper such as
# `freeze_batchnorm_statistics`.

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.

# %%
report.values(before=f"{before:.2%}", after_naive=f"{after_naive:.2%}",
              after_frozen=f"{after_frozen:.2%}")
report.claim("requires_grad_does_not_freeze_stats", All([
    Above("largest move of running_mean, requires_grad_(False) only",
          moved_naive, 0.1),
    Equal("largest move of running_mean, BatchNorm layers frozen too",
          moved_frozen, 0)]))
# "Falls" is read as a drop of more than 20 points, not a slip.
report.claim("naive_finetune_breaks_original", Greater(
    "original-task accuracy before fine-tuning", before,
    "original-task accuracy after, requires_grad_(False) only",
    after_naive, margin=0.2))
report.claim("frozen_finetune_keeps_original", Equal(
    "change in original-task accuracy, BatchNorm layers frozen too",
    after_frozen - before, 0))
