# %% [markdown]
# # Noisy BatchNorm: shift the distributions on purpose
#
# Santurkar et al. (2018) asked: if BatchNorm helps by keeping layer input
# distributions steady, what happens when we make them unsteady on purpose?
# After each BatchNorm layer, a random per-unit scale and shift, redrawn at
# every step, moves every sigmoid's input distribution at every step. We
# train it next to plain BatchNorm and no normalization, and measure both
# accuracy and shift.

# %%
import matplotlib.pyplot as plt
import torch

from snippets.support import data
from snippets.experiments.ics import sigmoid_inputs, sigmoid_mlp
from snippets.support.report import FAST, Report
from snippets.support.training import accuracy, train

report = Report("ics_noisy_bn")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
STEPS = 300 if FAST else 10_000
EVERY = 30 if FAST else 250
BATCH, LR = 60, 0.5
x_watch = x_test[:1000]

# %%
# --8<-- [start:run]
labels = {"none": "no BN", "bn": "BN", "noisy": "noisy BN"}
history = {}
for norm in labels:
    torch.manual_seed(0)
    model = sigmoid_mlp(norm)
    record = {"step": [], "accuracy": [], "mean": [], "std": []}

    def watch(step, model=model, record=record):
        if step % EVERY:
            return
        last = sigmoid_inputs(model, x_watch)[-1]  # noise included
        record["step"].append(step)
        record["accuracy"].append(accuracy(model, x_test, y_test))
        model.train()
        record["mean"].append(last.mean(0))
        record["std"].append(last.std(0))

    epochs = -(-STEPS * BATCH // len(x_train))
    train(model, x_train, y_train, epochs=epochs, batch_size=BATCH,
          optimizer=torch.optim.SGD(model.parameters(), lr=LR),
          max_steps=STEPS, callback=watch, label=labels[norm])
    history[norm] = record
# --8<-- [end:run]

# %%
def shift(record):
    """|change of mean| + |change of std| of the last layer's sigmoid
    inputs between measurements, averaged over units."""
    return [((record["mean"][t] - record["mean"][t - 1]).abs()
             + (record["std"][t] - record["std"][t - 1]).abs()).mean().item()
            for t in range(1, len(record["step"]))]


fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.0))
for norm, record in history.items():
    left.plot(record["step"], record["accuracy"], label=labels[norm])
    right.plot(record["step"][1:], shift(record), label=labels[norm])
left.set_xlabel("training step")
left.set_ylabel("test accuracy")
right.set_xlabel("training step")
right.set_ylabel(f"last layer input shift per {EVERY} steps")
right.set_yscale("log")
left.legend(fontsize=8)
report.figure(fig, "noisy")

# %%
def first_step_reaching(record, level):
    return next((s for s, a in zip(record["step"], record["accuracy"])
                 if a >= level), None)


final = {n: r["accuracy"][-1] for n, r in history.items()}
shifts = {n: sum(shift(r)) / len(shift(r)) for n, r in history.items()}
target = 0.95 * final["none"]
reach = {n: first_step_reaching(r, target) for n, r in history.items()}
report.table("noisy", ["Network", f"Test accuracy after {STEPS} steps",
                       f"First measured step at {target:.1%}",
                       "Mean input shift, last layer"],
             [[labels[n], f"{final[n]:.2%}", str(reach[n]),
               f"{shifts[n]:.4f}"] for n in history])
# Speed is the effect one seed can show; tenths of a point of final
# accuracy are not (a different seed could reorder them).
noisy_beats_plain = (reach["noisy"] is not None and reach["none"] is not
                     None and reach["noisy"] < reach["none"])
report.values(
    steps=STEPS, acc_plain=f"{final['none']:.2%}",
    acc_bn=f"{final['bn']:.2%}", acc_noisy=f"{final['noisy']:.2%}",
    shift_plain=f"{shifts['none']:.4f}", shift_bn=f"{shifts['bn']:.4f}",
    shift_noisy=f"{shifts['noisy']:.4f}",
    shift_ratio=f"{shifts['noisy'] / shifts['bn']:.0f}",
    target=f"{target:.1%}", reach_plain=str(reach["none"]),
    reach_bn=str(reach["bn"]), reach_noisy=str(reach["noisy"]),
    spread=f"{max(final.values()) - min(final.values()):.2%}",
    verdict=("noisy BN still trained faster than no BN, although its "
             "inputs shift more than those of the network without BN"
             if noisy_beats_plain and shifts["noisy"] > shifts["none"] else
             "noisy BN still trained faster than no BN" if noisy_beats_plain
             else "noisy BN did not train faster than no BN here"),
)
