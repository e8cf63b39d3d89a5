# %% [markdown]
# # Fine-tuning with frozen BatchNorm: FrozenBatchNorm2d
#
# torchvision's `FrozenBatchNorm2d` is BatchNorm2d reduced to its
# evaluation-mode formula, with everything fixed: weight, bias and the
# running statistics are buffers, not parameters. This example lists what
# each layer holds, swaps the BatchNorm2d layers of a small trained CNN
# for frozen ones loaded from their state dicts, compares the outputs,
# and shows what the state dicts do not carry over.

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

# %%
def holdings(layer):
    return (", ".join(name for name, _ in layer.named_parameters()) or "-",
            ", ".join(name for name, _ in layer.named_buffers()))


rows = [[name, *holdings(layer)] for name, layer in [
    ("nn.BatchNorm2d(8)", nn.BatchNorm2d(8)),
    ("FrozenBatchNorm2d(8)", FrozenBatchNorm2d(8))]]
report.table("holdings", ["Layer", "Parameters", "Buffers"], rows)
print(rows)


# %% [markdown]
# ## Swapping the layers of a trained model
#
# Every BatchNorm2d becomes a FrozenBatchNorm2d with the same `eps`,
# loaded from the BatchNorm2d's state dict.

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
print(f"frozen vs eval-mode model: {difference:.1e} (outputs up to "
      f"{scale:.1f}); train vs eval: BatchNorm2d {moved:.2f}, frozen "
      f"{stays:.1e}")

# %% [markdown]
# ## What the state dict does not carry
#
# `num_batches_tracked` is dropped on loading, and `eps` is not in a state
# dict at all: a layer trained with `eps=1e-3`, loaded into a
# FrozenBatchNorm2d built with the default `eps=1e-5`.

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
print("num_batches_tracked in the state dict:",
      "num_batches_tracked" in state, "; kept:",
      "num_batches_tracked" in dict(same_eps.named_buffers()))
print(f"eps 1e-5 instead of 1e-3: {wrong_eps:.3f}; the same eps: "
      f"{right_eps:.1e}")

# %% [markdown]
# ## FrozenBatchNorm2d or the freezing helper
#
# The inference page's `freeze_batchnorm_statistics` keeps the BatchNorm2d
# layers (their weight and bias still train) and only pins their mode;
# FrozenBatchNorm2d fixes everything. Which parameters each leaves to the
# optimizer:

# %%
helper = freeze_batchnorm_statistics(copy.deepcopy(model)).train()
trainable = {name: sum(p.numel() for p in m.parameters() if p.requires_grad)
             for name, m in [("model", model), ("helper", helper),
                             ("frozen", frozen)]}
print(trainable)

# %%
report.table("trainable", ["Model", "Trainable parameters",
                           "BatchNorm in training mode uses"], [
    ["trained CNN, nn.BatchNorm2d", trainable["model"], "batch statistics"],
    ["freeze_batchnorm_statistics(model)", trainable["helper"],
     "running statistics"],
    ["BatchNorm2d swapped for FrozenBatchNorm2d", trainable["frozen"],
     "running statistics"]])
report.values(steps=steps, difference=f"{difference:.1e}",
              scale=f"{scale:.1f}",
              moved=f"{moved:.2f}", stays=f"{stays:.1e}",
              wrong_eps=f"{wrong_eps:.2f}", right_eps=f"{right_eps:.1e}",
              bn_parameters=trainable["model"] - trainable["frozen"])
# float32 rounding: a difference under 1e-5 of the largest output.
report.claim("frozen_equals_eval_model", Below(
    "largest output difference, frozen minus eval-mode model", difference,
    1e-5 * scale))
report.claim("frozen_ignores_train_mode", All([
    Above("largest output change, training minus eval mode, BatchNorm2d "
          "model", moved, 0.1),
    Equal("largest output change, training minus eval mode, frozen model",
          stays, 0)]))
# 100 times as far, and above rounding even where the layer's eps gives
# exactly 0.
report.claim("eps_not_in_state_dict", Greater(
    "largest output difference, loaded with the default eps", wrong_eps,
    "largest output difference, built with the layer's eps", right_eps,
    factor=100, margin=1e-5))
