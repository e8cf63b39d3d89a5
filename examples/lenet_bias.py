# %% [markdown]
# # The bias before BatchNorm
#
# In training mode, BatchNorm subtracts each channel's batch mean, and with
# it any constant the layer before added; in eval mode the running mean
# takes that role once it has caught up. So a conv or linear layer followed
# by BatchNorm should not need its bias. Here LeNet is trained twice from
# the same weights, with and without those biases, on the same batches
# (one seed: the two runs should agree up to rounding, so there is no
# seed-to-seed noise to average out).

# %%
import copy

import torch
from torch import nn

from snippets.experiments.lenet import LAYER_NAMES, fashion_mnist, fit, lenet
from snippets.support.report import FAST, Report, at_most
from snippets.support.rules import All, Below, Greater

report = Report("lenet_bias")
LR, EPOCHS, BATCH_SIZE, SEED = 1.0, 2, 256, 0
NUM_TRAIN = 8 * BATCH_SIZE if FAST else 78 * BATCH_SIZE  # full batches
dataset = fashion_mnist(NUM_TRAIN, 1000 if FAST else None)


# %%
# --8<-- [start:bias]
def hidden_layers(model):  # conv1, conv2, fc1, fc2: each before a BN
    return [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))][:4]


def lenet_with_bias():
    """LeNet with a bias before each BatchNorm; the seed gives it the same
    weights as ``lenet()``. Random biases, so that cancelling them shows."""
    model = lenet(bias=True)
    for layer in hidden_layers(model):
        nn.init.uniform_(layer.bias, -1.0, 1.0)
    return model


without = fit(lenet, dataset, lr=LR, epochs=EPOCHS, seed=SEED)
with_bias = fit(lenet_with_bias, dataset, lr=LR, epochs=EPOCHS, seed=SEED)
# --8<-- [end:bias]

# %% [markdown]
# ## How far the biases moved, and how far apart the two runs ended
#
# The largest change of any bias over training, the largest difference
# between the two runs' losses, and the largest difference between the two
# models' outputs (logits) in eval mode on 1,000 test images.

# %%
def count(model):
    return sum(p.numel() for p in model.parameters())


torch.manual_seed(SEED)
initial = lenet_with_bias()  # to see how far the biases moved
biases = {}
for name, trained, start in zip(LAYER_NAMES, hidden_layers(with_bias.model),
                                hidden_layers(initial)):
    biases[name] = float((trained.bias - start.bias).detach().abs().max())
    print(f"{name}: {trained.bias.numel()} biases, largest change "
          f"{biases[name]:.1e}")

loss_diff = [abs(a - b) for a, b in zip(without.losses, with_bias.losses)]
x_test = dataset[2][:1000]
without.model.eval()  # eval mode: the running mean replaces the batch mean
with_bias.model.eval()
with torch.no_grad():
    eval_diff = float((without.model(x_test)
                       - with_bias.model(x_test)).abs().max())
rows = [["without (default)", f"{count(without.model):,}",
         f"{without.test_accuracy[-1]:.2%}"],
        ["with", f"{count(with_bias.model):,}",
         f"{with_bias.test_accuracy[-1]:.2%}"]]
report.table("bias", ["Bias before BatchNorm", "Parameters",
                      "Test accuracy"], rows)
for row in rows:
    print(row)
FIRST = 10  # steps
print(f"largest loss difference: first {FIRST} steps "
      f"{max(loss_diff[:FIRST]):.1e}, "
      f"all {len(loss_diff)} steps {max(loss_diff):.1e}; eval outputs "
      f"{eval_diff:.1e}")

# %% [markdown]
# ## Why the eval outputs differ at all
#
# The running mean starts at 0 and has to learn the bias too: after t
# steps it still lacks a fraction (1 - momentum)^t of it. What that lag
# alone does to the outputs: give each BatchNorm the part of the bias its
# running mean lacks, and compare the outputs with and without it.

# %%
momentum = 0.1  # nn.BatchNorm's default
lag = (1 - momentum) ** len(loss_diff)
caught_up = copy.deepcopy(with_bias.model)
modules = list(caught_up)
with torch.no_grad():
    for layer in hidden_layers(caught_up):
        norm = modules[modules.index(layer) + 1]  # the BatchNorm after it
        norm.running_mean += lag * layer.bias
    lag_effect = float((caught_up(x_test)
                        - with_bias.model(x_test)).abs().max())
print(f"lag factor {lag:.1e}: it moves the eval outputs by at most "
      f"{lag_effect:.1e}, against a difference of {eval_diff:.1e}")

# %%
acc_gap = abs(without.test_accuracy[-1] - with_bias.test_accuracy[-1])
# The two runs should agree up to rounding: bounds on each way they could
# part (the losses, the final test accuracy, how far a bias moved).
report.claim("bias_changes_nothing", All([
    Below("largest loss difference", max(loss_diff), 1e-3),
    Below("test accuracy difference (points)", 100 * acc_gap, 0.2),
    Below("largest change of a bias", max(biases.values()), 1e-4)]))
report.claim("eval_gap_is_rounding", Greater(
    "largest eval-mode output difference", eval_diff,
    "largest change of the eval outputs from the running mean's lag",
    lag_effect, factor=100))
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}",
    steps=len(loss_diff),
    extra=count(with_bias.model) - count(without.model),
    params_without=f"{count(without.model):,}",
    params_with=f"{count(with_bias.model):,}",
    acc_without=f"{without.test_accuracy[-1]:.2%}",
    acc_with=f"{with_bias.test_accuracy[-1]:.2%}",
    loss_diff_10=at_most(max(loss_diff[:FIRST])), first_steps=FIRST,
    loss_diff_all=at_most(max(loss_diff)),
    eval_diff=at_most(eval_diff),
    bias_moved=at_most(max(biases.values())),
    lag=f"{lag:.1e}", lag_effect=at_most(lag_effect),
)
