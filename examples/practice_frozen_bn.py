# %% [markdown]
# # Fine-tuning with frozen BatchNorm: FrozenBatchNorm2d
#
# When a pretrained model is fine-tuned with small batches, the statistics
# of each batch are noisy, and the running statistics from pretraining
# may describe the data better. One way to keep them is torchvision's
# `FrozenBatchNorm2d`. It is BatchNorm2d reduced to its evaluation-mode
# formula, with everything fixed: weight, bias and the running statistics
# are buffers, not parameters.
#
# This example:
#
# 1. lists what each layer holds (parameters and buffers);
# 2. swaps the BatchNorm2d layers of a small trained CNN for frozen ones,
#    loaded from their state dicts, and compares the outputs;
# 3. shows two things that the state dicts do not carry over;
# 4. compares FrozenBatchNorm2d with a helper that only pins the mode of
#    the BatchNorm2d layers.

# %%
import copy

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from snippets.experiments.models import small_cnn
from snippets.layers.inference import freeze_batchnorm_statistics
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import Above, All, Below, Equal, Greater
from snippets.support.training import train

# %% [markdown]
# The model to freeze: the small CNN of `snippets/experiments/models.py`
# (convolution, BatchNorm2d, ReLU and max-pooling, twice, then a Linear
# classifier), trained with Adam on Fashion-MNIST for `steps` steps. A
# short run is enough: we only need running statistics and weights that
# are not the initial ones. At the end the model goes to eval mode, as
# it would be after training.

# %%
report = Report("practice_frozen_bn")
x_train, y_train = data.load("fashion_mnist", train=True)
torch.manual_seed(0)
model = small_cnn(channels=(8, 16))
steps = 20 if FAST else 100
train(model, x_train, y_train, epochs=1, batch_size=64,
      optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
      max_steps=steps)
model.eval()


# %% [markdown]
# ## What each layer holds
#
# `holdings` lists the names of a layer's parameters and of its buffers.
# The difference matters for training: an optimizer built from
# `model.parameters()` updates parameters only, and buffers are never in
# that list.
#
# In the table, compare where `weight` and `bias` sit in each row. In
# `nn.BatchNorm2d` they are parameters, so an optimizer trains them. In
# `FrozenBatchNorm2d` they are buffers, next to the running statistics,
# so nothing trains them. Note also which layer has a
# `num_batches_tracked` buffer: the section on the state dict comes back
# to it.

# %%
def holdings(layer):
    return (", ".join(name for name, _ in layer.named_parameters()) or "-",
            ", ".join(name for name, _ in layer.named_buffers()))


rows = [[name, *holdings(layer)] for name, layer in [
    ("nn.BatchNorm2d(8)", nn.BatchNorm2d(8)),
    ("FrozenBatchNorm2d(8)", FrozenBatchNorm2d(8))]]
report.table("holdings", ["Layer", "Parameters", "Buffers"], rows)


# %% [markdown]
# ## Swapping the layers of a trained model
#
# `to_frozen` copies the model, then walks through its layers. Every
# BatchNorm2d becomes a FrozenBatchNorm2d with the same `eps`, loaded from
# the BatchNorm2d's state dict. Any other layer is searched the same way
# for BatchNorm2d layers inside it.
#
# Then three measurements on a batch of training images `x`:
#
# - `difference`: the frozen model against the original in eval mode.
#   Both should compute the same formula with the same numbers.
# - `moved`: the original model in training mode against eval mode. In
#   training mode BatchNorm2d normalizes with the statistics of the batch.
#   This pass runs on a copy, because a training-mode pass also updates
#   the running statistics, even under `no_grad`.
# - `stays`: the frozen model in training mode against eval mode.

# %%
# --8<-- [start:swap]
def to_frozen(model):
    """A copy of ``model`` with every BatchNorm2d frozen for good."""
    model = copy.deepcopy(model)
    for name, layer in model.named_children():
        if isinstance(layer, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(layer.num_features, eps=layer.eps)
            frozen.load_state_dict(layer.state_dict())  # strict
            setattr(model, name, frozen)
        else:
            setattr(model, name, to_frozen(layer))
    return model


frozen = to_frozen(model)
x = x_train[:256]
with torch.no_grad():
    difference = (frozen(x) - model.eval()(x)).abs().max().item()
    scale = model(x).abs().max().item()
    # In training mode, BatchNorm2d uses the batch; frozen layers do not.
    # (On a copy: a training-mode pass updates the running statistics,
    # even under no_grad.)
    moved = (copy.deepcopy(model).train()(x[:8])
             - model.eval()(x[:8])).abs().max().item()
    stays = (frozen.train()(x[:8]) - frozen.eval()(x[:8])).abs().max().item()
# --8<-- [end:swap]

# %% [markdown]
# The printed line gives the three numbers, and the size of the outputs
# for scale. Read `difference` against that size: a value at the level of
# float32 rounding means the swap kept the model's function. Then compare
# `moved` and `stays`. The original model changes its outputs when it
# switches mode. If the frozen model does not, `model.train()` cannot
# change it during fine-tuning, which is the point of freezing.

# %%
print(f"frozen vs eval-mode model: {difference:.1e} (outputs up to "
      f"{scale:.1f}); train vs eval: BatchNorm2d {moved:.2f}, frozen "
      f"{stays:.1e}")

# %% [markdown]
# ## What the state dict does not carry
#
# A state dict holds a layer's parameters and buffers. Two things can go
# missing when it moves from one kind of layer to another.
#
# First, `num_batches_tracked`: the BatchNorm2d state dict has it, and the
# frozen layer has no such buffer. Second, `eps`: it is a setting of the
# layer, neither a parameter nor a buffer, so it is not in a state dict at
# all. A layer loaded from a state dict keeps the `eps` it was built with.
#
# To see the second, `bn` is a BatchNorm2d built with an `eps` larger than
# the default. It runs in training mode over many batches of features of
# small variance: the images, repeated over its channels and scaled down.
# Its running statistics follow those features. Then its state dict goes
# into two FrozenBatchNorm2d layers: `default`, built with the default
# `eps=1e-5`, and `same_eps`, built with the `eps` of `bn`. `probe` is a
# batch of other images, scaled the same way. The variance of these
# features is small, so `eps` is not small next to it, and the choice of
# `eps` shows in the outputs.

# %%
# --8<-- [start:eps]
bn = nn.BatchNorm2d(8, eps=1e-3)
for xb in x_train[:64 * 60].split(64):  # features of small variance
    bn.train()(xb.repeat(1, 8, 1, 1) * 0.05)
state = bn.state_dict()
default = FrozenBatchNorm2d(8)  # eps=1e-5
default.load_state_dict(state)
same_eps = FrozenBatchNorm2d(8, eps=bn.eps)
same_eps.load_state_dict(state)
probe = x_train[-32:].repeat(1, 8, 1, 1) * 0.05
with torch.no_grad():
    wrong_eps = (default(probe) - bn.eval()(probe)).abs().max().item()
    right_eps = (same_eps(probe) - bn.eval()(probe)).abs().max().item()
# --8<-- [end:eps]

# %% [markdown]
# The first line answers two questions: is `num_batches_tracked` in the
# state dict, and is it among the frozen layer's buffers after loading?
# The second line gives the largest output difference from the original
# layer in eval mode, for each frozen layer. The layer built with the
# same `eps` should agree up to float32 rounding. Compare the other one
# with it: any gap above rounding comes from `eps` alone, because both
# loaded the same state dict. So when you swap layers, pass `eps` by hand,
# as `to_frozen` does.

# %%
print("num_batches_tracked in the state dict:",
      "num_batches_tracked" in state, "; kept:",
      "num_batches_tracked" in dict(same_eps.named_buffers()))
print(f"eps 1e-5 instead of 1e-3: {wrong_eps:.3f}; the same eps: "
      f"{right_eps:.1e}")

# %% [markdown]
# ## FrozenBatchNorm2d or the freezing helper
#
# The inference page's `freeze_batchnorm_statistics` keeps the BatchNorm2d
# layers and only pins their mode: they stay in eval mode, even after
# `model.train()`. Their weight and bias are still parameters, so they
# still train. FrozenBatchNorm2d fixes everything.
#
# The table counts the parameters that each version leaves to the optimizer
# (those with `requires_grad`). Its last column says which statistics each
# version's BatchNorm layers use in training mode. That column is typed in
# the code; this cell does not measure it. Compare the counts: the gap
# between the first and the last row is the number of BatchNorm weights and
# biases that FrozenBatchNorm2d takes away from training. Choose the helper
# when gamma and beta should still adapt to the new data, and
# FrozenBatchNorm2d when they should not.

# %%
helper = freeze_batchnorm_statistics(copy.deepcopy(model)).train()
trainable = {name: sum(p.numel() for p in m.parameters() if p.requires_grad)
             for name, m in [("model", model), ("helper", helper),
                             ("frozen", frozen)]}
report.table("trainable", ["Model", "Trainable parameters",
                           "BatchNorm in training mode uses"], [
    ["trained CNN, nn.BatchNorm2d", trainable["model"], "batch statistics"],
    ["freeze_batchnorm_statistics(model)", trainable["helper"],
     "running statistics"],
    ["BatchNorm2d swapped for FrozenBatchNorm2d", trainable["frozen"],
     "running statistics"]])

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# Float32 rounding here means a difference under a small fraction of
# `scale`, the largest output. `frozen_equals_eval_model` asks that the
# frozen model and the eval-mode model differ by less than that.
# `frozen_ignores_train_mode` asks that training mode changes the output of
# the BatchNorm2d model by more than the claim's bound, and does not change
# the output of the frozen model at all. For `eps`, `eps_not_in_state_dict`
# asks that the layer with the default `eps` is more than `factor` times as
# far off as the layer with the same `eps`, plus `margin`. The margin is a
# level meant to be above rounding, so the claim asks for a real difference
# even where the latter gives exactly 0.

# %%
report.values(steps=steps, difference=f"{difference:.1e}",
              scale=f"{scale:.1f}",
              moved=f"{moved:.2f}", stays=f"{stays:.1e}",
              wrong_eps=f"{wrong_eps:.2f}", right_eps=f"{right_eps:.1e}",
              bn_parameters=trainable["model"] - trainable["frozen"])
report.claim("frozen_equals_eval_model", Below(
    "largest output difference, frozen minus eval-mode model", difference,
    1e-5 * scale))
report.claim("frozen_ignores_train_mode", All([
    Above("largest output change, training minus eval mode, BatchNorm2d "
          "model", moved, 0.1),
    Equal("largest output change, training minus eval mode, frozen model",
          stays, 0)]))
report.claim("eps_not_in_state_dict", Greater(
    "largest output difference, loaded with the default eps", wrong_eps,
    "largest output difference, built with the layer's eps", right_eps,
    factor=100, margin=1e-5))
