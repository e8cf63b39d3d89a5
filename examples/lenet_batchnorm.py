# %% [markdown]
# # LeNet with and without BatchNorm
#
# The d2l book's experiment: LeNet-5 (sigmoid activations) on
# Fashion-MNIST, trained by SGD with learning rate 1.0 and batch size 256,
# three times: without normalization, with the from-scratch layer of
# `snippets/layers/batchnorm.py`, and with `nn.BatchNorm2d` / `nn.BatchNorm1d`.
# Then a look at the scale and shift the first BatchNorm layer learned.

# %%
import math
from functools import partial

import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.layers.batchnorm import BatchNorm
from snippets.experiments.lenet import fashion_mnist, fit, lenet
from snippets.experiments.models import no_norm
from snippets.support.report import FAST, Report
from snippets.support.training import smooth

# This example records training times, so the build runs it alone and it
# may use both cores.
report = Report("lenet_batchnorm")
LR, BATCH_SIZE = 1.0, 256
# d2l trains 10 epochs on all 60,000 images; 5 epochs on 234 full batches
# keep the site's build short. A last, smaller batch is left out on purpose:
# see the pitfalls on the experiments page.
EPOCHS = 2 if FAST else 5
NUM_TRAIN = 2048 if FAST else 234 * BATCH_SIZE
dataset = fashion_mnist(NUM_TRAIN, 2000 if FAST else None)
print(f"{len(dataset[0])} training and {len(dataset[2])} test images")

# %% [markdown]
# ## Three variants of one network
#
# The seed fixes the convolution and linear weights, so the two BatchNorm
# variants start from the same weights (BatchNorm itself starts at
# weight 1, bias 0).

# %%
# --8<-- [start:variants]
variants = {
    "no normalization": partial(lenet, no_norm, no_norm),
    "from scratch (snippets/layers/batchnorm.py)": partial(lenet, BatchNorm,
                                                    BatchNorm),
    "nn.BatchNorm2d / nn.BatchNorm1d": lenet,
}
results = {name: fit(make, dataset, lr=LR, epochs=EPOCHS,
                     batch_size=BATCH_SIZE, seed=0, train_accuracy=True)
           for name, make in variants.items()}
# --8<-- [end:variants]
print(results["nn.BatchNorm2d / nn.BatchNorm1d"].model)

# %%
fig, (ax_loss, ax_acc) = plt.subplots(1, 2)
window = max(1, results["no normalization"].steps_per_epoch // 4)
styles = ["-", "-", "--"]  # the two BatchNorms overlap: dash one
for (name, r), style in zip(results.items(), styles):
    ax_loss.plot(range(window, len(r.losses) + 1),
                 smooth(r.losses, window), style, label=name)
    epochs = range(1, len(r.test_accuracy) + 1)
    ax_acc.plot(epochs, r.test_accuracy, "o" + style, label=name)
ax_loss.set_xlabel("step")
ax_loss.set_ylabel(f"training loss ({window}-step mean)")
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("test accuracy (eval mode)")
ax_acc.set_ylim(0, 1)
ax_acc.legend(fontsize=7)
fig.suptitle(f"LeNet, SGD lr {LR}, batch {BATCH_SIZE}, "
             f"{len(dataset[0]):,} images", fontsize=10)
report.figure(fig, "curves")

# %% [markdown]
# ## Accuracy and training time

# %%
rows = [[name, f"{r.test_accuracy[-1]:.1%}", f"{r.train_accuracy:.1%}",
         f"{sum(r.losses[-r.steps_per_epoch:]) / r.steps_per_epoch:.3f}"]
        for name, r in results.items()]
report.table("results", ["Variant", "Test accuracy", "Train accuracy",
                         "Mean loss, last epoch"], rows)
base = results["no normalization"].seconds
report.table("timing_results", ["Variant", "Training time",
                                "Relative to no normalization"],
             [[name, f"{r.seconds:.1f} s", f"{r.seconds / base:.2f}x"]
              for name, r in results.items()])
for name, r in results.items():
    print(f"{name:40s} test {r.test_accuracy[-1]:.3f}  {r.seconds:.1f} s")

# %% [markdown]
# ## The from-scratch layer against torch.nn, step by step
#
# Same initial weights, same batches: the two BatchNorm runs differ only
# by floating-point rounding (the layers compute the same function in a
# different order). SGD with a large step size amplifies such differences
# over hundreds of steps, so compare the first steps and the end.

# %%
scratch = results["from scratch (snippets/layers/batchnorm.py)"].losses
torch_nn = results["nn.BatchNorm2d / nn.BatchNorm1d"].losses
first_diff = max(abs(a - b) for a, b in zip(scratch[:10], torch_nn[:10]))
print(f"largest loss difference over the first 10 steps: {first_diff:.1e}")

# %% [markdown]
# ## What the first BatchNorm layer learned
#
# `weight` (gamma) and `bias` (beta) of the BatchNorm2d after the first
# convolution, one pair per channel. They start at 1 and 0.

# %%
model = results["nn.BatchNorm2d / nn.BatchNorm1d"].model
bns = [m for m in model if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
first = bns[0]
gamma, beta = first.weight.detach(), first.bias.detach()
fig, (ax_bar, ax_all) = plt.subplots(1, 2)
channels = torch.arange(len(gamma))
ax_bar.bar(channels - 0.2, gamma, width=0.4, label="weight (gamma)")
ax_bar.bar(channels + 0.2, beta, width=0.4, label="bias (beta)")
ax_bar.axhline(1, color="C0", lw=0.8, ls=":")
ax_bar.axhline(0, color="k", lw=0.8)
ax_bar.set_xticks(channels)
ax_bar.set_xlabel("channel of the first BatchNorm2d")
ax_bar.legend(fontsize=8)
names = ["conv1", "conv2", "fc1", "fc2"]
for i, (name, bn) in enumerate(zip(names, bns)):
    ax_all.scatter(bn.weight.detach(), bn.bias.detach(), s=10,
                   label=f"{name} ({bn.num_features})", color=f"C{i}")
ax_all.axvline(1, color="k", lw=0.8, ls=":")
ax_all.axhline(0, color="k", lw=0.8, ls=":")
ax_all.set_xlabel("weight (gamma)")
ax_all.set_ylabel("bias (beta)")
ax_all.legend(fontsize=8, title="layer", title_fontsize=8)
report.figure(fig, "gamma_beta")
print("gamma:", [round(v, 2) for v in gamma.tolist()])
print("beta: ", [round(v, 2) for v in beta.tolist()])

# %% [markdown]
# ## How long the plateau lasts
#
# Chance level for ten classes is a loss of ln 10 = 2.30. How many steps
# pass before the smoothed loss first drops below 2.0?

# %%
def first_step_below(losses, level, window):
    for step, value in enumerate(smooth(losses, window), start=window):
        if value < level:
            return step
    return None


LEVEL = 2.0  # clearly below chance, ln 10 = 2.30
plateau = {name: first_step_below(r.losses, LEVEL, window)
           for name, r in results.items()}
print(plateau)

# %%
none = results["no normalization"]
bn = results["nn.BatchNorm2d / nn.BatchNorm1d"]
scratch_r = results["from scratch (snippets/layers/batchnorm.py)"]
report.values(
    epochs=EPOCHS, num_train=f"{len(dataset[0]):,}", lr=f"{LR}",
    batch_size=BATCH_SIZE,
    steps=len(bn.losses), window=window, level=f"{LEVEL}",
    chance=f"{math.log(10):.2f}", num_test=f"{len(dataset[2]):,}",
    plateau_none=plateau["no normalization"] or f"over {len(none.losses)}",
    plateau_bn=(f"already at the first {window}-step mean" if plateau[
        "nn.BatchNorm2d / nn.BatchNorm1d"] == window else
        f'after {plateau["nn.BatchNorm2d / nn.BatchNorm1d"]} steps'),
    none_acc=f"{none.test_accuracy[-1]:.1%}",
    bn_acc=f"{bn.test_accuracy[-1]:.1%}",
    bn_first_epoch=f"{bn.test_accuracy[0]:.1%}",
    none_first_epoch=f"{none.test_accuracy[0]:.1%}",
    scratch_acc=f"{scratch_r.test_accuracy[-1]:.1%}",
    first_diff=f"{first_diff:.0e}",
    gamma_min=f"{gamma.min():.2f}", gamma_max=f"{gamma.max():.2f}",
    beta_min=f"{beta.min():.2f}", beta_max=f"{beta.max():.2f}",
    learned=("moved far from 1 and 0" if max((gamma - 1).abs().max(),
                                             beta.abs().max()) > 0.5
             else "stayed close to 1 and 0"),
    gammas_all_min=f"{min(b.weight.min() for b in bns):.2f}",
    gammas_all_max=f"{max(b.weight.max() for b in bns):.2f}",
)
report.timings(
    none_seconds=f"{none.seconds:.1f}", bn_seconds=f"{bn.seconds:.1f}",
    scratch_seconds=f"{scratch_r.seconds:.1f}",
    scratch_vs_nn=f"{scratch_r.seconds / bn.seconds:.1f}")
