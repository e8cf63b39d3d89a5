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
#
# This is why `lenet()` builds its conv and linear layers with
# `bias=False` wherever a BatchNorm layer follows them. This example tests
# that choice: if the biases did matter, the two runs would give
# different results.

# %% [markdown]
# ## Settings
#
# `LR`, `EPOCHS`, `BATCH_SIZE` and `SEED` are the same for both runs.
# `NUM_TRAIN` is a whole number of batches, so that every step has the
# same batch size. In fast mode there are fewer training and test images.

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


# %% [markdown]
# ## Two runs: without and with the biases
#
# `hidden_layers` picks the four layers that are each followed by a
# BatchNorm layer: conv1, conv2, fc1 and fc2. `lenet_with_bias` builds
# LeNet with a bias in each of them. The seed gives it the same weights
# as `lenet()`, so the only difference is the biases.
#
# The biases are set to random values, not to zero. A bias of zero would
# be cancelled trivially. Random biases test the cancelling with
# constants that are not zero. They are one random draw, not every
# possible value.
#
# `fit` then trains both models with the same seed, so they also see the
# same batches.

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
# ## How far the biases moved
#
# In training mode, the output of BatchNorm does not depend on a constant
# added to each channel of its input, so the loss does not depend on the
# bias. Its gradient should then be zero up to rounding, and SGD should
# leave the bias where it started.
#
# To check this, the code builds the model with biases again from the
# same seed (`initial`), which gives the biases' starting values. For each
# of the four layers it prints the number of biases and the largest
# change of any of them over training. Look at the size of the changes:
# they should be tiny compared with the random starting values of the
# biases. A large change would mean that the biases received a real
# gradient.

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

# %% [markdown]
# ## How far apart the two runs ended
#
# Two more measures of how far apart the runs ended:
#
# - `loss_diff`, the absolute difference between the two runs' losses at
#   each step. The code prints its largest value over the first `FIRST`
#   steps and over all steps.
# - `eval_diff`, the largest difference between the two models' outputs
#   (logits) in eval mode, on the first test images (`x_test`). In eval
#   mode BatchNorm subtracts the running mean instead of the batch mean.
#
# The loss differences should be small, of the size of rounding. The
# eval-mode difference is a harder test: there, the bias is cancelled only
# as far as the running mean has learned it. The next section looks at
# whether that explains the difference.

# %%
loss_diff = [abs(a - b) for a, b in zip(without.losses, with_bias.losses)]
x_test = dataset[2][:1000]
without.model.eval()  # eval mode: the running mean replaces the batch mean
with_bias.model.eval()
with torch.no_grad():
    eval_diff = float((without.model(x_test)
                       - with_bias.model(x_test)).abs().max())
FIRST = 10  # steps
print(f"largest loss difference: first {FIRST} steps "
      f"{max(loss_diff[:FIRST]):.1e}, "
      f"all {len(loss_diff)} steps {max(loss_diff):.1e}; eval outputs "
      f"{eval_diff:.1e}")

# %% [markdown]
# The table compares the two models: the number of parameters, and the test
# accuracy at the end of training. The model with biases has more
# parameters; if BatchNorm cancels the biases, those extra parameters change
# nothing. The two test accuracies should agree closely; a large difference
# would mean that the biases changed what the network learned.

# %%
rows = [["without (default)", f"{count(without.model):,}",
         f"{without.test_accuracy[-1]:.2%}"],
        ["with", f"{count(with_bias.model):,}",
         f"{with_bias.test_accuracy[-1]:.2%}"]]
report.table("bias", ["Bias before BatchNorm", "Parameters",
                      "Test accuracy"], rows)

# %% [markdown]
# ## Why the eval outputs differ at all
#
# The running mean starts at 0 and has to learn the bias too: after t
# steps it still lacks a fraction (1 - momentum)^t of it. What that lag
# alone does to the outputs: give each BatchNorm the part of the bias its
# running mean lacks, and compare the outputs with and without it.
#
# The code computes that fraction, `lag`, for the number of steps run, at
# PyTorch's default momentum of 0.1. It copies the model with biases
# (`caught_up`) and adds `lag` times each layer's bias to the running
# mean of the BatchNorm layer after it. Then it measures how much that
# moves the eval-mode outputs (`lag_effect`).
#
# The line prints three numbers: `lag`, `lag_effect` and `eval_diff`.
# Compare the last two. If `lag_effect` is much smaller than `eval_diff`,
# the lag of the running mean does not explain the difference between the
# two models. The site attributes the rest to float32 rounding that grew
# during training; this example does not measure that part separately.

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

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers recorded here, and each claim is a
# rule that the build checks against this run. A reader can skip this
# section.
#
# The two runs should agree up to rounding. The first claim,
# `bias_changes_nothing`, puts a bound on each way in which they could
# differ: the losses, the final test accuracy, and how far a bias moved.
# It asks that each difference is below its bound. The second claim,
# `eval_gap_is_rounding`, asks that the eval-mode difference is larger
# than what the running mean's lag explains, by more than the factor in
# the rule.

# %%
acc_gap = abs(without.test_accuracy[-1] - with_bias.test_accuracy[-1])
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
