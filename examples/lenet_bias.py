# %% [markdown]
# # The bias before BatchNorm
#
# BatchNorm subtracts each channel's batch mean, and with it any constant
# the layer before added. So a conv or linear layer followed by BatchNorm
# does not need its bias. Here LeNet is trained twice from the same
# weights, with and without those biases, on the same batches.

# %%
import torch
from torch import nn

from snippets.experiments.lenet import LAYER_NAMES, fashion_mnist, fit, lenet
from snippets.support.report import FAST, Report

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

# %%
def count(model):
    return sum(p.numel() for p in model.parameters())


torch.manual_seed(SEED)
initial = lenet_with_bias()  # to see how far the biases moved
biases = {}
for name, trained, start in zip(LAYER_NAMES, hidden_layers(with_bias.model),
                                hidden_layers(initial)):
    biases[name] = (trained.bias - start.bias).detach().abs().max()
    print(f"{name}: {trained.bias.numel()} biases, largest change "
          f"{biases[name]:.1e}")

loss_diff = [abs(a - b) for a, b in zip(without.losses, with_bias.losses)]
x_test = dataset[2][:1000]
without.model.eval()  # eval mode: the running mean replaces the batch mean
with_bias.model.eval()
with torch.no_grad():
    eval_diff = (without.model(x_test) - with_bias.model(x_test)).abs().max()
rows = [["without (default)", f"{count(without.model):,}",
         f"{without.test_accuracy[-1]:.2%}"],
        ["with", f"{count(with_bias.model):,}",
         f"{with_bias.test_accuracy[-1]:.2%}"]]
report.table("bias", ["Bias before BatchNorm", "Parameters",
                      "Test accuracy"], rows)
for row in rows:
    print(row)
print(f"largest loss difference: first 10 steps {max(loss_diff[:10]):.1e}, "
      f"all {len(loss_diff)} steps {max(loss_diff):.1e}; eval outputs "
      f"{eval_diff:.1e}")

# %%
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}",
    steps=len(loss_diff),
    extra=count(with_bias.model) - count(without.model),
    params_without=f"{count(without.model):,}",
    params_with=f"{count(with_bias.model):,}",
    acc_without=f"{without.test_accuracy[-1]:.2%}",
    acc_with=f"{with_bias.test_accuracy[-1]:.2%}",
    loss_diff_10=f"{max(loss_diff[:10]):.0e}",
    loss_diff_all=f"{max(loss_diff):.0e}",
    eval_diff=f"{eval_diff:.0e}",
    bias_moved=f"{max(biases.values()):.0e}",
    # The running mean starts at 0; the part of the bias it still lacks
    # shrinks by (1 - momentum) per step.
    lag=f"{(1 - 0.1) ** len(loss_diff):.0e}",
)
