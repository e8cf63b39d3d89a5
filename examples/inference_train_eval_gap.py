# %% [markdown]
# # Forgetting eval(): accuracy as the test batch shrinks
#
# A model evaluated in training mode normalizes each test batch with its
# own statistics. With large batches these are close to the running
# estimates; with small ones they are noisy, and accuracy drops. In
# evaluation mode the batch size does not matter.

# %%
import copy

import matplotlib.pyplot as plt
import torch

from snippets.support import data
from snippets.experiments.models import mlp
from snippets.support.report import FAST, Report
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
large = sizes[0]
if in_train[large] > in_eval[large]:
    note = ("With the largest test batches, training mode even comes out "
            "slightly ahead here: after a single epoch the running "
            "estimates average batches computed with older weights, while "
            "a large batch's own statistics match the current ones.")
else:
    note = ("Even with the largest test batches, training mode does not "
            "beat evaluation mode here.")
report.values(note=note, eval_acc=f"{in_eval[sizes[0]]:.2%}",
              eval_spread=f"{max(in_eval.values()) - min(in_eval.values()):.1e}",
              train_large=f"{in_train[sizes[0]]:.2%}",
              train_2=f"{in_train[2]:.2%}", train_8=f"{in_train[8]:.2%}")
