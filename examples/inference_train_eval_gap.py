# %% [markdown]
# # Forgetting eval(): accuracy as the test batch shrinks
#
# A model evaluated in training mode normalizes each test batch with its
# own statistics, which get noisier as the batch shrinks; in evaluation
# mode it uses the running estimates, whatever the batch. This example
# measures the test accuracy of one trained MLP (one training run) in both
# modes as the test batch shrinks, and then, to see whether the running
# estimates lag behind the final weights, recomputes them with `update_bn`.
#
# Forgetting `model.eval()` is a pitfall that readers hit. It raises no
# error: the model still returns predictions. Only the numbers change, so
# it helps to know how they change.

# %% [markdown]
# ## A trained MLP
#
# The model is the small MLP of `snippets/experiments/models.py`, with a
# `BatchNorm1d` layer after each hidden linear layer. It is trained once,
# with Adam, on the Fashion-MNIST training images. In fast mode the
# training stops early (`max_steps`) and only the first test images are
# kept, so the run stays short.

# %%
import copy

import matplotlib.pyplot as plt
import torch
from torch.optim.swa_utils import update_bn

from snippets.experiments.models import mlp
from snippets.support import data
from snippets.support.data import batches
from snippets.support.report import FAST, Report
from snippets.support.rules import DECREASING, Below, Equal, Greater, Ordered
from snippets.support.training import accuracy, train

torch.manual_seed(0)
report = Report("inference_train_eval_gap")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
if FAST:
    x_test, y_test = x_test[:500], y_test[:500]
model = mlp()
train(model, x_train, y_train, epochs=1, batch_size=128,
      optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
      max_steps=60 if FAST else None)

# %% [markdown]
# ## The same model in two modes
#
# Two ways to measure test accuracy, each at every test batch size in
# `sizes`:
#
# - `accuracy` (from `snippets/support/training.py`) is the right way. It
#   calls `model.eval()`, so every BatchNorm layer normalizes with its
#   running estimates.
# - `train_mode_accuracy` is the mistake. It evaluates a copy of the model
#   in training mode, so every BatchNorm layer normalizes each test batch
#   with the mean and variance of that batch. The copy matters: in
#   training mode the running buffers move, and the copy keeps the
#   original model's buffers untouched.
#
# Both functions run under `torch.no_grad()`. That does not make the
# second one correct: `torch.no_grad()` does not switch BatchNorm to its
# running statistics.

# %%
# --8<-- [start:gap]
@torch.no_grad()
def train_mode_accuracy(model, x, y, batch_size):
    """Accuracy when the model is (wrongly) left in training mode."""
    net = copy.deepcopy(model).train()  # train mode also moves its buffers
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = net(x[start:start + batch_size])
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum()
    return correct.item() / len(x)


sizes = [500, 128, 32, 8, 4, 2]
in_eval = {b: accuracy(model, x_test, y_test, batch_size=b) for b in sizes}
in_train = {b: train_mode_accuracy(model, x_test, y_test, b) for b in sizes}
# --8<-- [end:gap]

# %% [markdown]
# ## Accuracy against the test batch size
#
# The figure shows the two accuracies against the test batch size, with
# the largest batch on the right. What to look for:
#
# - **The eval() line** should be flat. In evaluation mode each image is
#   normalized with the same running estimates, whatever else is in its
#   batch, so the predictions should not depend on the batch size.
# - **The train() line** uses batch statistics. The fewer images in a
#   batch, the noisier its mean and variance, so the line should fall as
#   the batch shrinks. With the smallest batches, each image is
#   normalized against only a few others.
# - **At the largest batch**, compare the two points. Batch statistics of
#   a large batch are close to the population statistics. It is not
#   obvious which mode should come out higher there; the next section
#   looks into it.

# %%
fig, ax = plt.subplots()
ax.plot(sizes, [in_eval[b] for b in sizes], "o-", label="model.eval()")
ax.plot(sizes, [in_train[b] for b in sizes], "s-",
        label="left in model.train()")
ax.set_xscale("log", base=2)
ax.set_xticks(sizes, [str(b) for b in sizes])
ax.set_xlabel("test batch size")
ax.set_ylabel("test accuracy")
ax.set_title("The same trained MLP, evaluated in two modes", fontsize=10)
ax.legend()
report.figure(fig, "gap")

# %% [markdown]
# The same numbers as a table, one row per test batch size. Read the
# "eval()" column first: all its entries should be equal. Then read the
# "train()" column from top to bottom.

# %%
report.table("gap", ["Test batch size", "eval()", "train()"],
             [[b, f"{in_eval[b]:.2%}", f"{in_train[b]:.2%}"] for b in sizes])

# %% [markdown]
# ## Do the running estimates lag behind the weights?
#
# The running estimates average batches seen during training, computed
# with the weights of their time. But the weights changed during that
# time, so the early batches no longer match the final model. The code
# below recomputes the estimates with the final weights: one pass over
# the training data, with `update_bn`. It works on a copy of the model,
# called `recalibrated`, so that the original model stays as it was.
# `batches(..., shuffle=False)` feeds the training images in their
# stored order. Then it measures the test accuracy in evaluation mode.
#
# Compare the printed accuracy with two numbers from the table: evaluation
# mode before the recalibration, and training mode with the largest
# batches. If the recalibrated accuracy comes close to training mode with
# large batches, then stale running estimates would explain the gap at
# large batches, not evaluation mode itself.

# %%
recalibrated = copy.deepcopy(model)
update_bn(batches(x_train, y_train, 500, shuffle=False), recalibrated)
eval_recalibrated = accuracy(recalibrated, x_test, y_test)
print(f"eval mode after update_bn: {eval_recalibrated:.2%}")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers recorded here, and each claim is a
# rule that the build checks against this run. A reader can skip this
# section.
#
# `large` is the largest test batch size, and `eval_spread` the largest
# minus the smallest eval-mode accuracy over all the batch sizes. The
# page gives one eval-mode accuracy for every batch size. So the first
# claim, `eval_accuracy_batch_size_independent`, asks for the same
# accuracy whatever the batch: a spread of exactly zero. It checks the
# accuracy, not each prediction.
#
# `train_mode_accuracy_drops` asks that training-mode accuracy falls at
# every step down in batch size. `train_mode_ahead_at_largest_batch` asks
# that training mode is ahead of evaluation mode with the largest
# batches. `recalibrated_eval_catches_up` asks that evaluation mode after
# `update_bn` comes within the claim's bound (in points) of training mode
# with the largest batches.

# %%
large = sizes[0]
eval_spread = max(in_eval.values()) - min(in_eval.values())
report.values(eval_acc=f"{in_eval[large]:.2%}", large=large,
              eval_spread=f"{eval_spread:.1e}",
              train_large=f"{in_train[large]:.2%}",
              train_2=f"{in_train[2]:.2%}", train_8=f"{in_train[8]:.2%}",
              eval_recalibrated=f"{eval_recalibrated:.2%}")
report.claim("eval_accuracy_batch_size_independent", Equal(
    "eval-mode accuracy, largest minus smallest over the batch sizes",
    eval_spread, 0))
report.claim("train_mode_accuracy_drops", Ordered(
    "train-mode accuracy", [f"batches of {b}" for b in sizes],
    [in_train[b] for b in sizes], DECREASING))
report.claim("train_mode_ahead_at_largest_batch", Greater(
    f"train-mode accuracy, batches of {large}", in_train[large],
    f"eval-mode accuracy, batches of {large}", in_eval[large]))
report.claim("recalibrated_eval_catches_up", Below(
    f"eval mode after update_bn minus train mode with batches of {large}, "
    "absolute (points)", abs(eval_recalibrated - in_train[large]) * 100,
    0.3))
