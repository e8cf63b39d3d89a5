# %% [markdown]
# # Recalibrating BatchNorm after weight averaging
#
# Stochastic weight averaging averages the *weights* of several snapshots.
# The running statistics are buffers, not weights: by default
# (`use_buffers=False`) `AveragedModel` copies them from the latest
# snapshot, so they describe that snapshot's activations, not those of the
# averaged weights. `torch.optim.swa_utils.update_bn` recomputes them with
# one pass over the training data.

# %%
import torch
from torch.optim.swa_utils import AveragedModel, update_bn

from snippets.experiments.models import mlp
from snippets.support import data
from snippets.support.data import batches
from snippets.support.report import FAST, Report
from snippets.support.rules import Greater
from snippets.support.training import accuracy, train

torch.manual_seed(0)
report = Report("inference_recalibration")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
if FAST:
    x_train, y_train = x_train[:3000], y_train[:3000]

# %%
# --8<-- [start:swa]
model = mlp()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
swa_model = AveragedModel(model)   # averages parameters, copies buffers
snapshots = 2 if FAST else 10
for snapshot in range(snapshots):  # train a little, then average in
    train(model, x_train, y_train, epochs=1, batch_size=128,
          optimizer=optimizer, seed=snapshot, max_steps=20 if FAST else 100)
    swa_model.update_parameters(model)

stale = accuracy(swa_model, x_test, y_test)  # last snapshot's statistics
update_bn(batches(x_train, y_train, 256), swa_model)  # one pass, recomputed
recalibrated = accuracy(swa_model, x_test, y_test)
last = accuracy(model, x_test, y_test)            # the last snapshot
# --8<-- [end:swa]
print(f"averaged, stale statistics: {stale:.2%}")
print(f"averaged, after update_bn:  {recalibrated:.2%}")
print(f"last snapshot alone:        {last:.2%}")

# %%
report.table("recalibration", ["Model", "Test accuracy"], [
    ["Averaged weights, running statistics of the last snapshot",
     f"{stale:.2%}"],
    ["Averaged weights, after update_bn", f"{recalibrated:.2%}"],
    ["Last snapshot (its own running statistics)", f"{last:.2%}"]])
report.values(stale=f"{stale:.2%}", recalibrated=f"{recalibrated:.2%}",
              snapshots=snapshots)
# "Raises": by more than a point, more than a few test images' worth.
report.claim("update_bn_recovers_accuracy", Greater(
    "test accuracy, averaged weights after update_bn", recalibrated,
    "test accuracy, averaged weights with stale statistics", stale,
    margin=0.01))
