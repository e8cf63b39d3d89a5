# %% [markdown]
# # Forgetting eval(): accuracy as the test batch shrinks
#
# A model evaluated in training mode normalizes each test batch with its
# own statistics, which get noisier as the batch shrinks; in evaluation
# mode it uses the running estimates, whatever the batch. This example
# measures the test accuracy of one trained MLP (one training run) in both
# modes as the test batch shrinks, and then, to see whether the running
# estimates lag behind the final weights, recomputes them with `update_bn`.

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
for b in sizes:
    print(f"batch {b:>3}: eval {in_eval[b]:.2%}, train {in_train[b]:.2%}")

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

report.table("gap", ["Test batch size", "eval()", "train()"],
             [[b, f"{in_eval[b]:.2%}", f"{in_train[b]:.2%}"] for b in sizes])

# %% [markdown]
# The running estimates average batches seen during training, computed
# with the weights of their time. Recomputed with the final weights (one
# pass over the training data, `update_bn`), they give this accuracy in
# evaluation mode:

# %%
recalibrated = copy.deepcopy(model)
update_bn(batches(x_train, y_train, 500, shuffle=False), recalibrated)
eval_recalibrated = accuracy(recalibrated, x_test, y_test)
print(f"eval mode after update_bn: {eval_recalibrated:.2%}")

# %%
large = sizes[0]
eval_spread = max(in_eval.values()) - min(in_eval.values())
report.values(eval_acc=f"{in_eval[large]:.2%}", large=large,
              eval_spread=f"{eval_spread:.1e}",
              train_large=f"{in_train[large]:.2%}",
              train_2=f"{in_train[2]:.2%}", train_8=f"{in_train[8]:.2%}",
              eval_recalibrated=f"{eval_recalibrated:.2%}")
# The page gives one eval-mode accuracy for every batch size: the same
# predictions, whatever the batch.
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
